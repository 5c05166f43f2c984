"""The job table: enqueue, claim with a lease, heartbeat, complete, fail.

A worker claims a job by setting ``status='running'``, itself as ``lease_owner``
and ``lease_until = now + lease``, in one conditional UPDATE, so two workers never
run the same job. A worker that dies stops renewing its lease; once the lease
has expired the job is claimable again, and after ``max_attempts`` claims it is
failed. At most ``report_concurrency`` reports per mode run at once; the rest
wait in the queue (R-R-4, R-R-5).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text, update

from causality.api.ids import new_id
from causality.api.storage import Database
from causality.api.storage.tables import jobs
from causality.api.timeutil import format_micros

JOB_PREFIX = {"attribution": "run", "report": "rep", "import": "imp"}


@dataclasses.dataclass(frozen=True)
class Job:
    """A row of the job table (without its result bytes)."""

    id: str
    mode: str
    kind: str
    status: str
    payload: dict[str, Any]
    attempts: int
    created_at: int
    started_at: int | None
    completed_at: int | None
    error: str | None
    progress: dict[str, Any]
    media_type: str | None
    schedule_id: str | None
    params_key: str | None

    def timestamps(self) -> dict[str, str | None]:
        """``created_at``, ``started_at`` and ``completed_at`` as RFC 3339."""
        return {
            "created_at": format_micros(self.created_at),
            "started_at": format_micros(self.started_at),
            "completed_at": format_micros(self.completed_at),
        }


@dataclasses.dataclass(frozen=True)
class JobOutput:
    """What a job handler returns: the result and how to describe it."""

    result: bytes | None
    media_type: str | None = None
    progress: dict[str, Any] = dataclasses.field(default_factory=dict)
    marker: str | None = None


_COLUMNS = [c for c in jobs.c if c.name != "result"]


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        mode=row.mode,
        kind=row.kind,
        status=row.status,
        payload=json.loads(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        error=row.error,
        progress=json.loads(row.progress) if row.progress else {},
        media_type=row.media_type,
        schedule_id=row.schedule_id,
        params_key=row.params_key,
    )


def enqueue(
    conn: Connection,
    *,
    mode: str,
    kind: str,
    payload: dict[str, Any],
    now_us: int,
    params_key: str | None = None,
    schedule_id: str | None = None,
    owner: str | None = None,
    lease_us: int = 0,
    job_id: str | None = None,
) -> str:
    """Add a job; with ``owner`` it starts out running, leased to that owner."""
    job_id = job_id or new_id(JOB_PREFIX[kind])
    conn.execute(
        jobs.insert().values(
            id=job_id,
            mode=mode,
            kind=kind,
            status="running" if owner else "queued",
            payload=json.dumps(payload, sort_keys=True),
            params_key=params_key,
            attempts=1 if owner else 0,
            lease_owner=owner,
            lease_until=now_us + lease_us if owner else None,
            schedule_id=schedule_id,
            created_at=now_us,
            started_at=now_us if owner else None,
        )
    )
    return job_id


def get_job(conn: Connection, job_id: str, mode: str, kind: str) -> Job | None:
    """The job ``job_id`` of ``mode`` and ``kind``, or None."""
    row = conn.execute(
        select(*_COLUMNS).where(jobs.c.id == job_id, jobs.c.mode == mode, jobs.c.kind == kind)
    ).first()
    return None if row is None else _job(row)


def get_result(conn: Connection, job_id: str) -> bytes | None:
    """The result bytes of a job."""
    return conn.scalar(select(jobs.c.result).where(jobs.c.id == job_id))


def list_jobs(
    conn: Connection, mode: str, kind: str, *, limit: int, after: str | None, before: str | None
) -> tuple[list[Job], bool]:
    """Jobs of ``mode`` and ``kind``, newest first, one page; returns (jobs, has_more)."""
    query = select(*_COLUMNS).where(jobs.c.mode == mode, jobs.c.kind == kind)
    if before is not None:
        query = query.where(jobs.c.id > before).order_by(jobs.c.id.asc())
    else:
        if after is not None:
            query = query.where(jobs.c.id < after)
        query = query.order_by(jobs.c.id.desc())
    rows = conn.execute(query.limit(limit + 1)).all()
    found = [_job(r) for r in rows[:limit]]
    if before is not None:
        found.reverse()
    return found, len(rows) > limit


def _claimable(now_us: int) -> Any:
    return or_(
        jobs.c.status == "queued",
        and_(jobs.c.status == "running", jobs.c.lease_until < now_us),
    )


def claim(
    db: Database,
    *,
    kinds: Iterable[str],
    owner: str,
    now_us: int,
    lease_us: int,
    max_attempts: int,
    report_concurrency: int,
) -> Job | None:
    """Lease the oldest claimable job of ``kinds`` to ``owner``, or return None."""
    kinds = list(kinds)
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            # Serialise claims, so the per-mode report limit holds across workers.
            conn.execute(text("SELECT pg_advisory_xact_lock(7262001)"))
        rows = conn.execute(
            select(jobs.c.id, jobs.c.mode, jobs.c.kind, jobs.c.attempts)
            .where(jobs.c.kind.in_(kinds), _claimable(now_us))
            .order_by(jobs.c.created_at, jobs.c.id)
            .limit(20)
        ).all()
        running_reports: dict[str, int] = {}
        for row in rows:
            if row.attempts >= max_attempts:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == row.id, _claimable(now_us))
                    .values(
                        status="failed",
                        error=f"the worker running this job was lost {row.attempts} times "
                        "(lease expired); giving up",
                        completed_at=now_us,
                        lease_owner=None,
                    )
                )
                continue
            if row.kind == "report":
                if row.mode not in running_reports:
                    running_reports[row.mode] = conn.scalar(
                        select(func.count()).where(
                            jobs.c.kind == "report",
                            jobs.c.mode == row.mode,
                            jobs.c.status == "running",
                            jobs.c.lease_until >= now_us,
                        )
                    )
                if running_reports[row.mode] >= report_concurrency:
                    continue
            claimed = conn.execute(
                update(jobs)
                .where(jobs.c.id == row.id, _claimable(now_us))
                .values(
                    status="running",
                    lease_owner=owner,
                    lease_until=now_us + lease_us,
                    attempts=jobs.c.attempts + 1,
                    started_at=func.coalesce(jobs.c.started_at, now_us),
                )
            ).rowcount
            if claimed:
                found = conn.execute(select(*_COLUMNS).where(jobs.c.id == row.id)).first()
                return _job(found)
    return None


def heartbeat(db: Database, job_ids: Iterable[str], owner: str, now_us: int, lease_us: int) -> None:
    """Extend the leases ``owner`` holds on ``job_ids``."""
    ids = list(job_ids)
    if not ids:
        return
    with db.write() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids), jobs.c.lease_owner == owner, jobs.c.status == "running")
            .values(lease_until=now_us + lease_us)
        )


def set_progress(db: Database, job_id: str, owner: str, progress: dict[str, Any]) -> None:
    """Record a running job's progress (import counters)."""
    with db.write() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.lease_owner == owner)
            .values(progress=json.dumps(progress))
        )


def complete(
    db: Database,
    job_id: str,
    owner: str,
    *,
    now_us: int,
    result: bytes | None = None,
    media_type: str | None = None,
    progress: dict[str, Any] | None = None,
    marker: str | None = None,
) -> bool:
    """Mark a job succeeded with its result; False when ``owner`` lost the lease."""
    values: dict[str, Any] = {
        "status": "succeeded",
        "result": result,
        "media_type": media_type,
        "completed_at": now_us,
        "lease_owner": None,
        "lease_until": None,
        "marker": marker,
    }
    if progress is not None:
        values["progress"] = json.dumps(progress)
    with db.write() as conn:
        done = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.status == "running")
            .values(**values)
        ).rowcount
    return bool(done)


def fail(db: Database, job_id: str, owner: str, *, now_us: int, error: str, retry: bool) -> None:
    """Record a failure: back to the queue when ``retry``, else ``failed``."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "error": error[:2000]}
    if retry:
        values["status"] = "queued"
    else:
        values.update(status="failed", completed_at=now_us)
    with db.write() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.status == "running")
            .values(**values)
        )
