"""Per-mode data versions: the order in which event writes commit.

Every transaction that inserts or deletes events of a mode first updates the mode's
row in ``data_versions``. On PostgreSQL the row lock serialises those transactions
until they commit (SQLite already has one writer at a time), so within a mode

* event primary keys are committed in increasing order: a reader that has seen every
  row up to primary key ``p`` catches up exactly with ``pk > p``;
* ``data_changes`` ids are committed in increasing order too, so a cached result
  computed at change ``m`` is stale exactly when a change ``> m`` touches its window.

``version`` counts those transactions and ``epoch`` counts deletions: after a deletion
a reader cannot catch up by primary key and rebuilds instead.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, insert, select

from causality.api.storage.tables import data_versions


class DataVersion(NamedTuple):
    """A mode's write counter and deletion counter."""

    version: int
    epoch: int


def begin_event_write(conn: Connection, mode: str, *, deletion: bool = False) -> DataVersion:
    """Lock the mode's event writes for this transaction and count this write.

    Call it before the transaction inserts or deletes events (its first write), so
    primary keys are drawn while the lock is held. Returns the new version.
    """
    # Plain driver SQL: this runs once per stored batch, on the ingestion hot path.
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    bump = (
        "UPDATE data_versions SET version = version + 1, epoch = epoch + "  # noqa: S608
        f"{marker} WHERE mode = {marker} RETURNING version, epoch"
    )
    params = (1 if deletion else 0, mode)
    row = conn.exec_driver_sql(bump, params).first()
    if row is None:  # the mode's first write ever
        conn.execute(insert(data_versions).values(mode=mode, version=0, epoch=0))
        row = conn.exec_driver_sql(bump, params).first()
        assert row is not None
    return DataVersion(int(row[0]), int(row[1]))


def read_version(conn: Connection, mode: str) -> DataVersion:
    """The mode's current version and epoch (zeros before its first write)."""
    row = conn.execute(
        select(data_versions.c.version, data_versions.c.epoch).where(data_versions.c.mode == mode)
    ).first()
    return DataVersion(0, 0) if row is None else DataVersion(int(row.version), int(row.epoch))
