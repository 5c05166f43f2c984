"""Attribution within a time budget: the cache, the 2 s rule and runs to poll.

A result is cached per (mode, canonical query) with the data-change marker it was
computed at, in memory and in the job table (so other processes share it). It
is served while no later change touches the query's window (R-Q-4). An uncached
query is fitted in the app's thread pool; if it has not finished within the
budget, the caller gets 202 and a run to poll, and the fit goes on: when it
ends, its result lands in the run. The run is leased to this process, so if the
process dies, a job worker fits it again.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
from typing import Any

from sqlalchemy import select

from causality.api.attribution_compute import Computed, compute
from causality.api.attribution_data import is_fresh
from causality.api.attribution_query import AttributionQuery
from causality.api.jobs import queue
from causality.api.jobs.queue import Job
from causality.api.problems import Problem, dumps
from causality.api.services import Services
from causality.api.storage.tables import jobs

MEMORY_CACHE_SIZE = 256


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What ``GET /v1/attribution`` answers: a result (200) or a run to poll (202)."""

    status: int
    body: bytes
    run_id: str | None = None


def attribution(services: Services, mode: str, query: AttributionQuery) -> Outcome:
    """The result of ``query`` from the cache, computed within the budget, or a run."""
    key = query.key()
    cached = _cached(services, mode, query, key)
    if cached is not None:
        return Outcome(200, cached)
    running = _running_run(services, mode, key)
    if running is not None:
        return Outcome(202, run_body(running, None), running.id)
    settings = services.settings
    future = services.executor.submit(compute, services.db, mode, query, settings, services.columns)
    try:
        computed = future.result(timeout=settings.attribution_budget_s)
    except concurrent.futures.TimeoutError:
        return _start_run(services, mode, query, key, future)
    _store(services, mode, query, key, computed)
    return Outcome(200, computed.body)


def _cached(services: Services, mode: str, query: AttributionQuery, key: str) -> bytes | None:
    cache = _memory(services)
    with services.cache_lock:
        hit = cache.get((mode, key))
    if hit is None:
        with services.db.read() as conn:
            row = conn.execute(
                select(jobs.c.marker, jobs.c.result)
                .where(
                    jobs.c.mode == mode,
                    jobs.c.kind == "attribution",
                    jobs.c.params_key == key,
                    jobs.c.status == "succeeded",
                )
                .order_by(jobs.c.completed_at.desc())
                .limit(1)
            ).first()
        if row is None or row.marker is None:
            return None
        hit = (int(row.marker), bytes(row.result))
    with services.db.read() as conn:
        fresh = is_fresh(conn, mode, query, hit[0])
    if not fresh:
        with services.cache_lock:
            cache.pop((mode, key), None)
        return None
    with services.cache_lock:
        cache[(mode, key)] = hit
        cache.move_to_end((mode, key))
        while len(cache) > MEMORY_CACHE_SIZE:
            cache.popitem(last=False)
    return hit[1]


def _memory(services: Services) -> collections.OrderedDict:
    if not isinstance(services.attribution_cache, collections.OrderedDict):
        services.attribution_cache = collections.OrderedDict()
    return services.attribution_cache


def _running_run(services: Services, mode: str, key: str) -> Job | None:
    with services.db.read() as conn:
        job_id = conn.scalar(
            select(jobs.c.id)
            .where(
                jobs.c.mode == mode,
                jobs.c.kind == "attribution",
                jobs.c.params_key == key,
                jobs.c.status.in_(("queued", "running")),
            )
            .limit(1)
        )
        return None if job_id is None else queue.get_job(conn, job_id, mode, "attribution")


def _store(
    services: Services, mode: str, query: AttributionQuery, key: str, computed: Computed
) -> None:
    """Keep a computed result as a finished run (the shared cache)."""
    now = services.now_us()
    with services.db.write() as conn:
        job_id = queue.enqueue(
            conn,
            mode=mode,
            kind="attribution",
            payload=query.payload(),
            now_us=now,
            params_key=key,
            owner=services.owner,
        )
    queue.complete(
        services.db,
        job_id,
        services.owner,
        now_us=now,
        result=computed.body,
        media_type="application/json",
        marker=str(computed.marker),
    )
    with services.cache_lock:
        _memory(services)[(mode, key)] = (computed.marker, computed.body)


def _start_run(
    services: Services,
    mode: str,
    query: AttributionQuery,
    key: str,
    future: concurrent.futures.Future,
) -> Outcome:
    settings = services.settings
    with services.db.write() as conn:
        job_id = queue.enqueue(
            conn,
            mode=mode,
            kind="attribution",
            payload=query.payload(),
            now_us=services.now_us(),
            params_key=key,
            owner=services.owner,
            lease_us=int(settings.job_lease_s * 1_000_000),
        )
    if services.lease_keeper is not None:
        services.lease_keeper.hold(job_id)
    future.add_done_callback(lambda done: _finish(services, job_id, mode, key, done))
    with services.db.read() as conn:
        job = queue.get_job(conn, job_id, mode, "attribution")
    assert job is not None
    return Outcome(202, run_body(job, None), job_id)


def _finish(
    services: Services, job_id: str, mode: str, key: str, future: concurrent.futures.Future
) -> None:
    """Record the outcome of a fit that outlived the budget."""
    try:
        computed = future.result()
    except Exception as exc:  # the run reports it; nothing else waits on this thread
        error = exc.detail if isinstance(exc, Problem) else f"{type(exc).__name__}: {exc}"
        queue.fail(
            services.db, job_id, services.owner, now_us=services.now_us(), error=error, retry=False
        )
    else:
        queue.complete(
            services.db,
            job_id,
            services.owner,
            now_us=services.now_us(),
            result=computed.body,
            media_type="application/json",
            marker=str(computed.marker),
        )
        with services.cache_lock:
            _memory(services)[(mode, key)] = (computed.marker, computed.body)
    finally:
        if services.lease_keeper is not None:
            services.lease_keeper.release(job_id)


def run_attribution_job(services: Services, job: Job, owner: str) -> queue.JobOutput:
    """Job handler: fit a run whose first process died (its lease expired)."""
    query = AttributionQuery.from_payload(job.payload)
    computed = compute(services.db, job.mode, query, services.settings, services.columns)
    return queue.JobOutput(computed.body, "application/json", {}, str(computed.marker))


def run_body(job: Job, result: bytes | None) -> bytes:
    """The JSON of an attribution run."""
    body: dict[str, Any] = {
        "object": "attribution_run",
        "id": job.id,
        "status": job.status,
        **job.timestamps(),
        "query": job.payload,
        "result": json.loads(result) if result else None,
        "error": job.error,
    }
    return dumps(body)
