"""Insert event rows: the ingestion hot path, after taking the mode's write lock.

`insert_rows` inserts rows known to be new; `insert_new_rows` skips, in the same
statement, rows whose ``event_id`` or conversion order is already stored, and says
which went in. Both call `begin_event_write` first, so event primary keys of a mode
commit in increasing order (what the event columns catch up by).
"""

from __future__ import annotations

import functools
import itertools
import operator
from typing import Any

from sqlalchemy import Connection, String

from causality.api.storage.tables import events
from causality.api.storage.versions import begin_event_write

#: Rows per INSERT statement: 500 x 36 parameters stays under SQLite's 32,766 limit.
INSERT_CHUNK = 500

EVENT_COLUMNS = [c.name for c in events.columns if c.name != "pk"]
_ROW_VALUES = operator.itemgetter(*EVENT_COLUMNS)  # a row dict -> its values, in order


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert event rows of one mode with one driver-level ``executemany``.

    SQLAlchemy's per-row parameter processing costs more than the insert itself for
    500-row batches; the rows are plain values, so the driver takes them directly.
    Takes the mode's write lock first (`begin_event_write`). A row whose ``event_id``
    or order is already stored raises ``IntegrityError``.
    """
    if not rows:
        return
    begin_event_write(conn, rows[0]["mode"])
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # Column names come from the table definition, never from input.
    columns = ", ".join(EVENT_COLUMNS)
    placeholders = ", ".join([marker] * len(EVENT_COLUMNS))
    sql = f"INSERT INTO events ({columns}) VALUES ({placeholders})"  # noqa: S608
    conn.exec_driver_sql(sql, list(map(_ROW_VALUES, rows)))


def insert_new_rows(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert event rows of one mode, skipping any that break a unique index.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING event_id`` per `INSERT_CHUNK`
    rows (a multi-row VALUES list on SQLite, one array per column on PostgreSQL),
    after taking the mode's write lock (`begin_event_write`).
    Returns the event ids that were inserted; a row whose ``event_id`` (or
    conversion order) is already stored, in the table or earlier in ``rows``, is not.
    """
    if not rows:
        return set()
    begin_event_write(conn, rows[0]["mode"])
    inserted: set[str] = set()
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        if conn.dialect.name == "postgresql":
            # One array per column: a short statement the driver parses once and the
            # server prepares, instead of thousands of placeholders parsed per call.
            sql: str = _UNNEST_INSERT
            values: tuple[Any, ...] = tuple(map(list, zip(*map(_ROW_VALUES, chunk), strict=True)))
        else:
            sql = _values_insert(len(chunk))
            values = tuple(itertools.chain.from_iterable(map(_ROW_VALUES, chunk)))
        inserted.update(conn.exec_driver_sql(sql, values).scalars().all())
    return inserted


_ON_CONFLICT = " ON CONFLICT DO NOTHING RETURNING event_id"


@functools.lru_cache(maxsize=64)
def _values_insert(n_rows: int) -> str:
    row = "(" + ", ".join(["?"] * len(EVENT_COLUMNS)) + ")"
    # Column names come from the table definition, never from input.
    return (
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "  # noqa: S608
        + ", ".join([row] * n_rows)
        + _ON_CONFLICT
    )


def _unnest_insert() -> str:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()

    def array_type(name: str) -> str:
        column_type = events.c[name].type
        # Text arrays, not varchar(n): an explicit cast to varchar(n) would silently
        # truncate, while the insert's own cast to the column raises on overflow.
        return "text" if isinstance(column_type, String) else column_type.compile(dialect=dialect)

    arrays = ", ".join(f"%s::{array_type(name)}[]" for name in EVENT_COLUMNS)
    names = ", ".join(EVENT_COLUMNS)
    # Rows go in in array order (ORDER BY the ordinality), so the first of two rows
    # with one order id is the one stored, as in the VALUES form.
    return (
        f"INSERT INTO events ({names}) SELECT {names} FROM unnest({arrays}) "  # noqa: S608
        f"WITH ORDINALITY AS rows ({names}, ordinality) ORDER BY ordinality" + _ON_CONFLICT
    )


_UNNEST_INSERT = _unnest_insert()
