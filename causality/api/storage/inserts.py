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
    names, columns = present_columns(rows)
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(_plain_insert(names, marker), list(zip(*columns, strict=True)))


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
        names, columns = present_columns(rows[start : start + INSERT_CHUNK])
        if conn.dialect.name == "postgresql":
            # One array per column: a short statement the driver parses once and the
            # server prepares, instead of thousands of placeholders parsed per call.
            sql = _unnest_insert(names)
            values: tuple[Any, ...] = tuple(map(list, columns))
        else:
            sql = _values_insert(names, len(columns[0]))
            values = tuple(itertools.chain.from_iterable(zip(*columns, strict=True)))
        inserted.update(conn.exec_driver_sql(sql, values).scalars().all())
    return inserted


def present_columns(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The event columns with a value in some row, and their values, column by column.

    A column that is NULL in every row is left out of the INSERT (it is NULL by
    default; no event column has a server default): an API batch fills about half of
    the 36 columns, and binding the rest cost a fifth of SQLite's insert time.

    Examples
    --------
    >>> base = dict.fromkeys(EVENT_COLUMNS)
    >>> names, columns = present_columns([{**base, "event_id": "a"}, {**base, "ts": 5}])
    >>> names, columns
    (('event_id', 'ts'), [('a', None), (None, 5)])
    """
    columns = list(zip(*map(_ROW_VALUES, rows), strict=True))
    n_rows = len(rows)
    kept = [k for k, values in enumerate(columns) if values.count(None) != n_rows]
    return tuple(EVENT_COLUMNS[k] for k in kept), [columns[k] for k in kept]


_ON_CONFLICT = " ON CONFLICT DO NOTHING RETURNING event_id"


@functools.lru_cache(maxsize=256)
def _plain_insert(names: tuple[str, ...], marker: str) -> str:
    # Column names come from the table definition, never from input.
    placeholders = ", ".join([marker] * len(names))
    return f"INSERT INTO events ({', '.join(names)}) VALUES ({placeholders})"  # noqa: S608


@functools.lru_cache(maxsize=256)
def _values_insert(names: tuple[str, ...], n_rows: int) -> str:
    row = "(" + ", ".join(["?"] * len(names)) + ")"
    # Column names come from the table definition, never from input.
    return (
        f"INSERT INTO events ({', '.join(names)}) VALUES "  # noqa: S608
        + ", ".join([row] * n_rows)
        + _ON_CONFLICT
    )


@functools.lru_cache(maxsize=256)
def _unnest_insert(names: tuple[str, ...]) -> str:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()

    def array_type(name: str) -> str:
        column_type = events.c[name].type
        # Text arrays, not varchar(n): an explicit cast to varchar(n) would silently
        # truncate, while the insert's own cast to the column raises on overflow.
        return "text" if isinstance(column_type, String) else column_type.compile(dialect=dialect)

    arrays = ", ".join(f"%s::{array_type(name)}[]" for name in names)
    listed = ", ".join(names)
    # Rows go in in array order (ORDER BY the ordinality), so the first of two rows
    # with one order id is the one stored, as in the VALUES form.
    return (
        f"INSERT INTO events ({listed}) SELECT {listed} FROM unnest({arrays}) "  # noqa: S608
        f"WITH ORDINALITY AS rows ({listed}, ordinality) ORDER BY ordinality" + _ON_CONFLICT
    )
