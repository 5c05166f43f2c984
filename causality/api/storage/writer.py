"""Group commit: write jobs from many threads share one transaction and one commit.

A durable commit costs an fsync (a few milliseconds), and SQLite has one writer at
a time, so committing every request on its own caps ingestion at a few hundred
requests per second whatever the CPU does. Here the first thread to arrive leads:
it takes every job queued so far, runs each in a savepoint of one transaction, and
commits once; jobs that arrive meanwhile wait for the next group, which the next
waiting thread leads. Each caller gets its own job's value or exception only after
the commit, so an answer is never sent for uncommitted data (R-E-12), and one job's
failure rolls back its savepoint only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection

if TYPE_CHECKING:
    from causality.api.storage.engine import Database

T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("done", "error", "run", "value")

    def __init__(self, run: Callable[[Connection], T]) -> None:
        self.run = run
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value


class GroupWriter:
    """Runs write jobs in shared, durable transactions (leader/follower group commit).

    Parameters
    ----------
    db : Database
        Its `Database.write` transaction runs each group.
    max_group : int
        At most this many jobs per transaction (bounds the work a failed commit undoes).
    """

    def __init__(self, db: Database, *, max_group: int = 64) -> None:
        self._db = db
        self._max_group = max_group
        self._cond = threading.Condition()
        self._queue: list[_Job[Any]] = []
        self._leading = False

    @property
    def queued(self) -> int:
        """Jobs waiting for a group (not counting the one being committed)."""
        with self._cond:
            return len(self._queue)

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run ``job(conn)`` in a write transaction; return its value once committed.

        The job may share the transaction with other threads' jobs: it must not
        commit or open another write transaction of this database (the leader holds
        its write lock), and its exception rolls back only its own writes.
        """
        entry: _Job[T] = _Job(job)
        with self._cond:
            self._queue.append(entry)
        while True:
            with self._cond:
                while self._leading and not entry.done:
                    self._cond.wait()
                if entry.done:
                    return entry.outcome()
                # Lead the next group: the oldest queued jobs, ours among them unless
                # more than a group's worth queued first (then we lead again after).
                self._leading = True
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
            try:
                self._commit(group)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()

    def _commit(self, group: list[_Job[Any]]) -> None:
        try:
            with self._db.write() as conn:
                if len(group) == 1:
                    # Alone in its transaction: no savepoint needed, its failure is
                    # the transaction's.
                    group[0].value = group[0].run(conn)
                else:
                    for entry in group:
                        _run_in_savepoint(conn, entry)
        except BaseException as exc:
            # Begin or commit failed (or the lone job raised): nothing of the group is
            # stored, so no job may report success.
            for entry in group:
                if entry.error is None:
                    entry.value, entry.error = None, exc
        finally:
            for entry in group:
                entry.done = True


def _run_in_savepoint(conn: Connection, entry: _Job[Any]) -> None:
    savepoint = conn.begin_nested()
    try:
        entry.value = entry.run(conn)
    except Exception as exc:
        savepoint.rollback()
        entry.error = exc
    else:
        savepoint.commit()
