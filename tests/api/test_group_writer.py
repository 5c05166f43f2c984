"""Group commit: concurrent write jobs share a transaction, and each caller hears the truth.

A caller's job value comes back only after the commit that holds it; a job that
raises is rolled back alone; a commit that fails fails every job in it, and then
nothing of the group is stored.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from causality.api.storage import Database


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'group.sqlite3'}")
    with database.write() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TABLE child (k INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda _conn: commits.append(1))
    database.commits = commits  # type: ignore[attr-defined]
    yield database
    database.close()


def stored(db: Database) -> list[int]:
    with db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT k FROM child ORDER BY k")]


def insert(k: int, *, parent: int | None = None, fail: bool = False, hold: tuple = ()):
    def job(conn):
        conn.exec_driver_sql("INSERT INTO child (k, parent) VALUES (?, ?)", (k, parent))
        if hold:  # keep the transaction open until `hold = (db, n)`: n jobs queued behind
            writer, n = hold[0].writer, hold[1]
            deadline = time.monotonic() + 20
            while writer.queued < n and time.monotonic() < deadline:
                time.sleep(0.01)
        if fail:
            raise ValueError(f"job {k} failed")
        return k * 10

    return job


def run_group(db: Database, jobs: dict[int, object]) -> dict[int, object]:
    """Run job 0 first; it holds its transaction until every other job is queued."""
    outcomes: dict[int, object] = {}
    started = threading.Event()

    def lead(conn):
        started.set()
        return jobs[0](conn)

    def call(k: int) -> None:
        try:
            outcomes[k] = db.writer.run(lead if k == 0 else jobs[k])
        except Exception as exc:
            outcomes[k] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert started.wait(20)  # job 0 leads a group of its own
    rest = [threading.Thread(target=call, args=(k,)) for k in jobs if k != 0]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join(30)
    return outcomes


def test_waiting_jobs_share_one_commit_and_each_gets_its_own_value(db):
    jobs = {0: insert(0, hold=(db, 10)), **{k: insert(k) for k in range(1, 11)}}
    outcomes = run_group(db, jobs)
    # Job 0 alone, then the ten that queued behind it together.
    assert len(db.commits) == 2
    assert outcomes == {k: k * 10 for k in range(11)}
    assert stored(db) == list(range(11))


def test_a_failing_job_is_rolled_back_alone(db):
    jobs = {0: insert(0, hold=(db, 8)), **{k: insert(k, fail=k == 5) for k in range(1, 9)}}
    outcomes = run_group(db, jobs)
    assert isinstance(outcomes[5], ValueError)
    assert {k: v for k, v in outcomes.items() if k != 5} == {k: k * 10 for k in range(9) if k != 5}
    assert stored(db) == [k for k in range(9) if k != 5]


def test_a_failed_commit_fails_every_job_of_the_group(db):
    # Job 3 breaks a deferred foreign key: the savepoint releases, the COMMIT fails.
    jobs = {
        0: insert(0, hold=(db, 5)),
        **{k: insert(k, parent=99 if k == 3 else None) for k in range(1, 6)},
    }
    outcomes = run_group(db, jobs)
    assert outcomes[0] == 0
    assert all(isinstance(outcomes[k], IntegrityError) for k in range(1, 6))
    assert stored(db) == [0]
    # The writer recovers: the next job commits normally.
    assert db.writer.run(insert(7)) == 70 and stored(db) == [0, 7]
