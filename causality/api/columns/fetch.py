"""Read stored events into `EventColumns`: one columnar SELECT by primary key.

The SELECT returns the columns attribution reads, with the offline-conversion
fallbacks of `causality.api.attribution_data.load_events` already applied in SQL,
and rows are encoded chunk by chunk (numpy per column, one dictionary lookup per
distinct string), so a million events never become a million Python objects at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from causality.api.columns.labels import Labels
from causality.api.columns.table import CONVERSION, FIELDS, TOUCH, EventColumns
from causality.api.storage.tables import identities

#: The kind of identify (and any other) events: they only link ids.
OTHER = 2
#: Rows fetched and encoded at a time.
CHUNK_ROWS = 65_536
#: Anonymous ids per identity lookup (bounded IN lists).
LOOKUP_IDS = 500

# `flags` packs the kind and three booleans into one small integer (cheaper to fetch
# than four values). `user`: user_id, else the user of a matched click; `anon`:
# anonymous_id, else the matched click's anonymous id, else a private id for an
# unmatched offline conversion (the library then counts it as unattributed). Same
# rules as `load_events`.
_KIND, _NO_USER_ID, _OWN_ANON, _OFFLINE = 3, 4, 8, 16
_COLUMNS = f"""pk, ts,
    CASE event_type WHEN 'touch' THEN {TOUCH} WHEN 'conversion' THEN {CONVERSION}
                    ELSE {OTHER} END
    + CASE WHEN user_id IS NULL THEN {_NO_USER_ID} ELSE 0 END
    + CASE WHEN anonymous_id IS NOT NULL THEN {_OWN_ANON} ELSE 0 END
    + CASE WHEN offline THEN {_OFFLINE} ELSE 0 END,
    CASE WHEN event_type = 'conversion' THEN name END,
    coalesce(user_id, matched_user_id),
    coalesce(anonymous_id, matched_anonymous_id,
             CASE WHEN user_id IS NULL AND matched_user_id IS NULL
                  THEN 'unmatched:' || event_id END),
    channel_group, source, medium, campaign, value"""
_STRING_FIELDS = ("channel_group", "source", "medium", "campaign")


@dataclasses.dataclass
class EventLabels:
    """The dictionaries behind the string columns of one mode's `EventColumns`."""

    names: Labels = dataclasses.field(default_factory=Labels)
    users: Labels = dataclasses.field(default_factory=Labels)
    anons: Labels = dataclasses.field(default_factory=Labels)
    channel_group: Labels = dataclasses.field(default_factory=Labels)
    source: Labels = dataclasses.field(default_factory=Labels)
    medium: Labels = dataclasses.field(default_factory=Labels)
    campaign: Labels = dataclasses.field(default_factory=Labels)

    @property
    def nbytes(self) -> int:
        """Approximate memory of every dictionary."""
        return sum(getattr(self, field.name).nbytes for field in dataclasses.fields(self))


@dataclasses.dataclass(frozen=True)
class Fetched:
    """Events read from the database: the columns, the last primary key, new links."""

    columns: EventColumns
    max_pk: int
    linked: np.ndarray  # codes of anonymous ids that a read row linked to a user id


def fetch_events(conn: Connection, mode: str, after_pk: int, labels: EventLabels) -> Fetched:
    """Events of ``mode`` with primary key above ``after_pk``, as sorted columns.

    Identify events are read only for the anonymous ids they link; the columns hold
    touches and conversions.
    """
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # SQLite would otherwise walk the (mode, ts) index and fetch rows at random;
    # NOT INDEXED still lets it range-scan the primary key (the rowid).
    hint = "NOT INDEXED" if conn.dialect.name == "sqlite" else ""
    sql = f"SELECT {_COLUMNS} FROM events {hint} WHERE pk > {marker} AND mode = {marker}"  # noqa: S608
    # A driver cursor of the connection's transaction: SQLAlchemy's result would wrap
    # every row in an object (and buffers rows of its own). On PostgreSQL a named
    # (server-side) cursor streams, so the client never holds the whole result.
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    named = conn.dialect.name == "postgresql"
    cursor = dbapi.cursor(name="causality_columns") if named else dbapi.cursor()
    chunks: list[_Chunk] = []
    try:
        cursor.execute(sql, (after_pk, mode))
        while rows := cursor.fetchmany(CHUNK_ROWS):
            chunks.append(_Chunk.read(rows))
    finally:
        cursor.close()
    if not chunks:
        return Fetched(EventColumns.empty(), after_pk, np.empty(0, dtype=np.int32))
    arrays = {name: np.concatenate([c.numbers[name] for c in chunks]) for name in _NUMBERS}
    for name, dictionary in _STRINGS.items():
        arrays[name] = getattr(labels, dictionary).encode_parts([c.strings[name] for c in chunks])
    # Rows carrying both a user id and their own anonymous id (identifies too) link them.
    links = arrays["linkable"] & ~arrays["user_matched"]
    linked = np.unique(arrays["anon"][links])
    keep = np.concatenate([c.keep for c in chunks])
    pk = np.concatenate([c.pk for c in chunks])
    kept = {name: column[keep] for name, column in arrays.items()}
    order = np.lexsort((pk[keep], kept["ts"]))  # time order, ties by primary key
    columns = EventColumns(
        {name: kept[name][order].astype(dtype, copy=False) for name, dtype in FIELDS.items()}
    )
    return Fetched(columns, max(after_pk, int(pk.max())), linked)


_NUMBERS = ("ts", "kind", "user_matched", "linkable", "value", "offline")
# String fields and their dictionary in `EventLabels`.
_STRINGS = {
    "name": "names",
    "user": "users",
    "anon": "anons",
    "channel_group": "channel_group",
    "source": "source",
    "medium": "medium",
    "campaign": "campaign",
}


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """One fetched chunk: keys, numeric columns and factorised strings of every row."""

    pk: np.ndarray
    keep: np.ndarray  # touches and conversions (identifies only link ids)
    numbers: dict[str, np.ndarray]
    strings: dict[str, tuple[np.ndarray, np.ndarray]]  # field -> (codes, uniques)

    @classmethod
    def read(cls, rows: list[tuple]) -> _Chunk:
        """Columns of ``rows`` (tuples in `_COLUMNS` order)."""
        (pk, ts, flags, name, user, anon, *channel, value) = np.array(rows, dtype=object).T
        flags = flags.astype(np.int64)
        kind = flags & _KIND
        strings = dict(zip(_STRING_FIELDS, channel, strict=True))
        strings.update(name=name, user=user, anon=anon)
        return cls(
            pk=pk.astype(np.int64),
            keep=kind != OTHER,
            numbers={
                "ts": ts.astype(np.int64),
                "kind": kind.astype(np.int8),
                "user_matched": (flags & _NO_USER_ID) > 0,
                "linkable": (flags & _OWN_ANON) > 0,
                "value": value.astype(np.float64),  # None -> NaN
                "offline": (flags & _OFFLINE) > 0,
            },
            strings={k: pd.factorize(v, use_na_sentinel=True) for k, v in strings.items()},
        )


def fetch_identities(
    conn: Connection, mode: str, labels: EventLabels, anons: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Identity links as (anonymous id code, user code) pairs.

    ``anons``: codes of the anonymous ids to look up; None reads every link of the mode.
    """
    query = select(identities.c.anonymous_id, identities.c.user_id).where(identities.c.mode == mode)
    if anons is None:
        rows = conn.execute(query).all()
    elif len(anons) == 0:
        rows = []
    else:
        names = labels.anons.decode(np.asarray(anons, dtype=np.int32)).to_pylist()
        rows = []
        for start in range(0, len(names), LOOKUP_IDS):
            chunk = names[start : start + LOOKUP_IDS]
            rows += conn.execute(query.where(identities.c.anonymous_id.in_(chunk))).all()
    if not rows:
        empty = np.empty(0, dtype=np.int32)
        return empty, empty
    anon, user = (np.array(col, dtype=object) for col in zip(*rows, strict=True))
    return labels.anons.encode(anon), labels.users.encode(user)
