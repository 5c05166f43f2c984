"""Job workers: threads that claim jobs from the table and run their handler.

``causality serve`` starts them inside the server (``--workers N``; ``--no-workers``
turns them off) and ``causality worker`` runs them in a process of their own.
A `LeaseKeeper` renews the leases of every job this process runs, in-process
attribution runs included, so a live job is never taken over; a dead process
stops renewing, and its jobs are retried elsewhere once the lease expires.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from causality.api.jobs import queue
from causality.api.jobs.queue import Job
from causality.api.problems import Problem
from causality.errors import CausalityError

if TYPE_CHECKING:
    from causality.api.attribution_query import AttributionQuery
    from causality.api.services import Services

log = logging.getLogger("causality.api.jobs")

#: kind -> handler(services, job, owner) -> JobOutput
Handler = Callable[["Services", Job, str], queue.JobOutput]


def handlers() -> dict[str, Handler]:
    """The handler of each job kind (imported lazily: they pull in the library)."""
    from causality.api.attribution_runs import run_attribution_job
    from causality.api.imports import run_import_job
    from causality.api.reports import run_report_job

    return {"attribution": run_attribution_job, "report": run_report_job, "import": run_import_job}


class LeaseKeeper:
    """Renews the leases this process holds, every third of the lease time."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="causality-leases", daemon=True)
        self._thread.start()

    def hold(self, job_id: str) -> None:
        """Keep renewing ``job_id`` until `release`."""
        with self._lock:
            self._held.add(job_id)

    def release(self, job_id: str) -> None:
        """Stop renewing ``job_id``."""
        with self._lock:
            self._held.discard(job_id)

    def _run(self) -> None:
        settings = self.services.settings
        lease_us = int(settings.job_lease_s * 1_000_000)
        while not self._stop.wait(settings.job_lease_s / 3):
            with self._lock:
                held = list(self._held)
            try:
                queue.heartbeat(
                    self.services.db, held, self.services.owner, self.services.now_us(), lease_us
                )
            except Exception:  # the next beat retries; a missed one only shortens the lease
                log.exception("lease heartbeat failed")

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()


class Worker:
    """A thread that claims and runs jobs of the given kinds until stopped."""

    def __init__(
        self,
        services: Services,
        *,
        kinds: tuple[str, ...] = ("attribution", "report", "import"),
        name: str = "worker",
    ) -> None:
        self.services = services
        self.kinds = kinds
        self.owner = f"{services.owner}:{name}"
        self._stop = threading.Event()
        self._handlers = handlers()
        self._thread = threading.Thread(target=self._loop, name=f"causality-{name}", daemon=True)

    def start(self) -> Worker:
        """Start the thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop after its current job."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # storage hiccup: wait and poll again
                log.exception("job worker poll failed")
                worked = False
            if not worked:
                self._stop.wait(self.services.settings.job_poll_s)

    def run_once(self) -> bool:
        """Run due schedules and at most one job; returns whether a job ran."""
        from causality.api.schedules import run_due_schedules

        services = self.services
        settings = services.settings
        run_due_schedules(services)
        job = queue.claim(
            services.db,
            kinds=self.kinds,
            owner=self.owner,
            now_us=services.now_us(),
            lease_us=int(settings.job_lease_s * 1_000_000),
            max_attempts=settings.job_max_attempts,
            report_concurrency=settings.report_concurrency,
        )
        if job is None:
            return False
        run_job(services, job, self.owner, self._handlers[job.kind])
        return True


def run_job(services: Services, job: Job, owner: str, handler: Handler) -> None:
    """Run one claimed job and record its outcome."""
    keeper = getattr(services, "lease_keeper", None)
    if keeper is not None:
        keeper.hold(job.id)
    try:
        output = handler(services, job, owner)
    except (CausalityError, Problem, ValueError) as exc:
        # Bad parameters or data fail the same way every time: no retry.
        queue.fail(
            services.db, job.id, owner, now_us=services.now_us(), error=str(exc), retry=False
        )
    except Exception as exc:
        log.error("job %s failed: %s", job.id, traceback.format_exc())
        retry = job.attempts < services.settings.job_max_attempts
        queue.fail(
            services.db,
            job.id,
            owner,
            now_us=services.now_us(),
            error=f"{type(exc).__name__}: {exc}",
            retry=retry,
        )
    else:
        queue.complete(
            services.db,
            job.id,
            owner,
            now_us=services.now_us(),
            result=output.result,
            media_type=output.media_type,
            progress=output.progress,
            marker=output.marker,
        )
    finally:
        if keeper is not None:
            keeper.release(job.id)


def _default_queries(services: Services) -> list[AttributionQuery]:
    """``GET /v1/attribution`` without parameters, for today's default window."""
    from causality.api.attribution_compute import reads_paths
    from causality.api.attribution_query import parse_query

    query = parse_query([], services.settings)
    return [query] if reads_paths(query.model) else []


def start_background(services: Services) -> None:
    """Start the lease keeper, ``settings.workers`` worker threads and the event columns."""
    columns, every = services.columns, services.settings.event_columns_follow_s
    if columns is not None and every > 0:
        # The default query's path table is kept ready: dashboards ask it most.
        columns.follow(services.db, every, warm=lambda: _default_queries(services))
    if getattr(services, "lease_keeper", None) is None:
        services.lease_keeper = LeaseKeeper(services)
        services.background.append(services.lease_keeper)
    for n in range(services.settings.workers):
        services.background.append(Worker(services, name=f"worker{n}").start())
