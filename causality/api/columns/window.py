"""The event frame of one attribution query, from a `Snapshot` of the columns.

Gives exactly the frame `causality.api.attribution_data.load_events` reads with SQL
(``tests/api/test_event_columns.py`` checks it on random event logs): the same rows
in the same order, the same strings. Identity links, the window cut and the
pre-window conversions are resolved on integer codes; strings are made once per
distinct value, at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from causality.api.attribution_query import AttributionQuery
from causality.api.columns.labels import Labels
from causality.api.columns.store import Snapshot
from causality.api.columns.table import CONVERSION, FIELDS, EventColumns

FRAME_COLUMNS = (
    "user_id",
    "anonymous_id",
    "timestamp",
    "event_type",
    "channel",
    "value",
    "offline",
)
# The string dtype pandas gives text read from SQL (the reference frame's): Arrow-backed
# "str" from pandas 3 on, object before.
_TEXT_DTYPE = pd.Series(["text"]).dtype
_EVENT_TYPES = pa.array(["touch", "conversion"])  # indexed by "is a conversion"
# The columns the window rules read.
_RULE_FIELDS = ("ts", "kind", "name", "user", "user_matched", "anon", "linkable")


@dataclasses.dataclass(frozen=True)
class Cut:
    """The rows of one query's event frame, still as codes.

    ``cols`` holds the rows `load_events` would return, in its order; ``user`` is
    each row's resolved user code (-1: none) and ``is_conv`` marks conversions.
    """

    cols: EventColumns
    user: np.ndarray
    is_conv: np.ndarray

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.cols)


def cut_window(
    snapshot: Snapshot, query: AttributionQuery, fields: Sequence[str] | None = None
) -> Cut:
    """Touches and conversions that matter for ``query``, as codes.

    Same rules as `load_events`: rows in ``[start - lookback, end)``; conversions
    before ``start`` only cut journeys, then go; lookback touches of people without a
    conversion in the window go too. ``fields`` limits the columns carried along
    (every one by default); the rules read ``ts``, ``kind``, ``name``, ``user``,
    ``user_matched``, ``anon`` and ``linkable``, which are always kept.
    """
    lo = query.start_us - query.lookback_us
    conversion = snapshot.labels.names.code_of(query.conversion)
    names = list(FIELDS) if fields is None else list(dict.fromkeys([*_RULE_FIELDS, *fields]))
    cols = EventColumns.empty().select(names)
    for part in snapshot.parts:  # later parts hold later keys: merging keeps (ts, pk) order
        cols = cols.merge(_rows(part.select(names), lo, query.end_us, conversion))
    user = _users(cols, snapshot.identity)
    is_conv = cols["kind"] == CONVERSION
    if len(cols) == 0:
        return Cut(cols, user, is_conv)
    anon, n_users = cols["anon"], snapshot.n_users

    def person(rows: slice | np.ndarray) -> np.ndarray:
        # One code per person: a user id, else an anonymous id (never both: the SQL
        # gives every row without a user an anonymous id). Built in one int64 array:
        # row-sized temporaries cost fresh pages, more than the arithmetic on them.
        out, own = np.add(anon[rows], n_users, dtype=np.int64), user[rows]
        np.copyto(out, own, where=own >= 0)
        return out

    keep = _kept(cols["ts"], is_conv, person, query.start_us, n_users + snapshot.n_anons)
    if not keep.all():
        rows = np.flatnonzero(keep)
        cols, user, is_conv = cols.take(rows), user[rows], is_conv[rows]
    return Cut(cols, user, is_conv)


def window_frame(snapshot: Snapshot, query: AttributionQuery) -> pd.DataFrame:
    """Touches and conversions that matter for ``query``, as `Journeys.from_events` reads them.

    The rows of `cut_window`, decoded to the strings `load_events` reads with SQL.
    """
    cut = cut_window(snapshot, query)
    if len(cut) == 0:
        return pd.DataFrame({name: [] for name in FRAME_COLUMNS})
    cols, labels = cut.cols, snapshot.labels
    value = cols["value"]
    return pd.DataFrame(
        {
            "user_id": _strings(labels.users.decode(cut.user)),
            "anonymous_id": _strings(labels.anons.decode(cols["anon"])),
            "timestamp": pd.to_datetime(cols["ts"], unit="us", utc=True),
            "event_type": _strings(_EVENT_TYPES.take(pa.array(cut.is_conv.view(np.int8)))),
            "channel": _strings(_channel(cols, snapshot, query.group_by)),
            "value": np.where(np.isnan(value), 0.0, value),
            "offline": cols["offline"],
        },
        copy=False,
    )


def _rows(part: EventColumns, lo: int, hi: int, conversion: int) -> EventColumns:
    """Touches, and conversions named ``conversion``, of ``part`` in ``[lo, hi)``."""
    window = part.window(lo, hi)
    kind = part["kind"][window]
    wanted = kind != CONVERSION
    if conversion >= 0:
        wanted |= part["name"][window] == conversion
    if wanted.all():
        return part.take(window)  # views, no copy
    return part.take(np.flatnonzero(wanted) + window.start)


def _users(cols: EventColumns, identity: np.ndarray) -> np.ndarray:
    """``coalesce(user_id, linked user of anonymous_id, user of matched click)``."""
    user = cols["user"]
    own = (user >= 0) & ~cols["user_matched"]
    # Only rows with their own anonymous id and no own user id can take a linked user.
    rows = np.flatnonzero(cols["linkable"] & ~own)
    if len(rows) == 0:
        return user
    linked = identity[cols["anon"][rows]]
    out = user.copy()
    out[rows] = np.where(linked >= 0, linked, user[rows])
    return out


def _kept(
    ts: np.ndarray,
    is_conv: np.ndarray,
    person: Callable[[slice | np.ndarray], np.ndarray],
    start: int,
    n_persons: int,
) -> np.ndarray:
    """Whether to keep each row, by the rules of the reference's window cut.

    Rows are in time order, so the rows before ``start`` (the only ones a rule can
    drop) are a prefix: only the prefix and the conversions after it are read, and
    ``person(rows)`` (the person codes of ``rows``) is asked for those alone.
    """
    n_before = int(np.searchsorted(ts, start, side="left"))
    keep = np.ones(len(ts), dtype=bool)
    if n_before == 0:
        return keep
    early, early_conv = ts[:n_before], is_conv[:n_before]
    early_person = person(slice(0, n_before))
    # Conversions before the window only cut journeys, then go.
    kept = ~early_conv
    if early_conv.any():  # touches up to a person's last conversion before the window
        cutoff = np.full(n_persons, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(cutoff, early_person[early_conv], early[early_conv])
        kept &= early > cutoff[early_person]
    # Lookback touches of people without a conversion in the window go too.
    converts = np.zeros(n_persons, dtype=bool)
    converts[person(n_before + np.flatnonzero(is_conv[n_before:]))] = True
    kept &= converts[early_person]
    keep[:n_before] = kept
    return keep


def _channel(cols: EventColumns, snapshot: Snapshot, group_by: str) -> pa.Array:
    labels = snapshot.labels
    if group_by == "channel_group":
        return pc.fill_null(labels.channel_group.decode(cols["channel_group"]), "Unassigned")
    if group_by == "campaign":
        return pc.fill_null(labels.campaign.decode(cols["campaign"]), "(not set)")
    # source / medium: build the text once per distinct pair.
    width = int(cols["medium"].max(initial=-1)) + 2
    pair = (cols["source"].astype(np.int64) + 1) * width + cols["medium"] + 1
    pairs, inverse = np.unique(pair, return_inverse=True)
    texts = pc.binary_join_element_wise(
        _filled(labels.source, pairs // width - 1, "(direct)"),
        _filled(labels.medium, pairs % width - 1, "(none)"),
        " / ",
    )
    return texts.take(pa.array(inverse.ravel()))


def _filled(labels: Labels, codes: np.ndarray, missing: str) -> pa.Array:
    return pc.fill_null(labels.decode(codes.astype(np.int32)), missing)


def _strings(values: pa.Array) -> pd.Series:
    if isinstance(_TEXT_DTYPE, pd.StringDtype):
        return pd.Series(values, dtype=_TEXT_DTYPE)  # no Python strings made
    return pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
