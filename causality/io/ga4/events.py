"""One batch of GA4 hits to event rows: touches, conversions and identity links.

De-duplication spans the whole import: `Seen` keeps 64-bit keys of the touches,
transaction ids and id pairs already emitted, so a repeat in a later batch or file is
dropped too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from causality.channels import ChannelRules
from causality.io.ga4.fields import event_ids, extract_hits
from causality.io.ga4.schema import Chunk

#: Columns of every frame `iter_ga4` yields, in order.
EVENT_COLUMNS = (
    "user_id",
    "anonymous_id",
    "timestamp",
    "event_type",
    "channel",
    "value",
    "event_name",
    "source",
    "medium",
    "campaign",
    "click_id",
    "click_id_value",
    "session_id",
    "transaction_id",
    "currency",
    "first_touch_source",
    "first_touch_medium",
    "first_touch_campaign",
    "device",
    "country",
    "region",
    "event_id",
)
_NOT_AN_ORDER = ("", "(not set)")
_PANDAS_TYPES = {pa.string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype()}


@dataclass
class GA4Stats:
    """Counts of one import; complete once the iteration has finished."""

    files: int = 0
    rows_read: int = 0
    touches: int = 0
    duplicate_touches: int = 0
    conversions: int = 0
    duplicate_conversions: int = 0
    conversions_without_value: int = 0
    identities: int = 0
    rows_without_id: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain mapping."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Options:
    """Validated options of one import (see `read_ga4`)."""

    fmt: str
    batch_rows: int
    rules: ChannelRules
    conversion_events: frozenset[str]
    revenue: str
    session_last_click: bool
    progress: bool | None


class SeenKeys:
    """A growing set of 64-bit keys, kept as sorted arrays merged like a binary counter.

    ``add`` binary-searches each of the O(log n) levels, so de-duplicating a whole export
    stays vectorised (O(k log^2 n) for k keys) and costs 8 bytes per key kept.
    """

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Mark keys as seen; True where a key is new (its first occurrence in ``keys``)."""
        keys = np.asarray(keys, dtype=np.uint64)
        _, first = np.unique(keys, return_index=True)
        fresh = np.zeros(len(keys), dtype=bool)
        fresh[first] = True
        for level in self._levels:
            pos = np.searchsorted(level, keys).clip(max=len(level) - 1)
            fresh &= level[pos] != keys
        new = np.sort(keys[fresh])
        while self._levels and len(self._levels[-1]) <= len(new):
            new = np.union1d(self._levels.pop(), new)
        if len(new):
            self._levels.append(new)
        return fresh


@dataclass
class Seen:
    """Keys emitted so far in one import."""

    touches: SeenKeys = field(default_factory=SeenKeys)
    orders: SeenKeys = field(default_factory=SeenKeys)
    links: SeenKeys = field(default_factory=SeenKeys)


def batch_events(
    chunk: Chunk, name: str, options: Options, stats: GA4Stats, seen: Seen
) -> pd.DataFrame:
    """The event rows of one batch of export rows (see `read_ga4` for the rules)."""
    hits = extract_hits(
        chunk.batch,
        name=name,
        first_row=chunk.first_row,
        session_last_click=options.session_last_click,
    )
    has_id = _valid(hits, "user_pseudo_id") | _valid(hits, "user_id")
    stats.rows_without_id += int((~has_id).sum())
    traffic = np.logical_or.reduce(
        [_valid(hits, c) for c in ("source", "medium", "campaign", "click_id")]
    )
    value_set = pa.array(sorted(options.conversion_events))
    is_conv = pc.is_in(hits["event_name"], value_set=value_set).to_numpy(zero_copy_only=False)
    # Candidate rows in time order, so "first" below means the earliest within the batch.
    by_time = np.argsort(hits["timestamp_us"].to_numpy(), kind="stable")

    def rows(mask: np.ndarray) -> np.ndarray:
        return by_time[mask[by_time]]

    touch = _new_touches(hits, rows(has_id & traffic), seen.touches, stats)
    conv = _new_conversions(hits, rows(has_id & is_conv), seen.orders, stats)
    link = rows(has_id & ~traffic & ~is_conv & _valid(hits, "user_id"))
    link = link[seen.links.add(_hash(hits, link, ["user_pseudo_id", "user_id"]))]
    stats.identities += len(link)

    picked = np.concatenate([touch, link, conv])
    kind = np.repeat(["touch", "identify", "conversion"], [len(touch), len(link), len(conv)])
    return _frame(hits.take(picked), kind, chunk.batch, picked, options, stats)


def _valid(table: pa.Table, column: str) -> np.ndarray:
    return pc.is_valid(table[column]).to_numpy(zero_copy_only=False)


def _new_touches(hits: pa.Table, rows: np.ndarray, seen: SeenKeys, stats: GA4Stats) -> np.ndarray:
    """Rows of hits with traffic whose (person, session, traffic) was not emitted yet."""
    part = hits.take(rows)
    # Without a session id, a touch is identified by its own time (never merged).
    own_time = pc.binary_join_element_wise("t", pc.cast(part["timestamp_us"], pa.string()), "")
    keyed = pa.table(
        {
            "who": pc.coalesce(part["user_pseudo_id"], part["user_id"]),
            "session": pc.coalesce(pc.cast(part["session_id"], pa.string()), own_time),
            **{c: part[c] for c in ("source", "medium", "campaign", "click_id")},
        }
    )
    fresh = seen.add(_hash(keyed, np.arange(len(rows)), keyed.column_names))
    stats.duplicate_touches += int((~fresh).sum())
    stats.touches += int(fresh.sum())
    return rows[fresh]


def _new_conversions(
    hits: pa.Table, rows: np.ndarray, seen: SeenKeys, stats: GA4Stats
) -> np.ndarray:
    """Conversion rows, dropping repeats of a transaction id (rows without one all stay)."""
    order_id = hits["transaction_id"].take(rows)
    real = _valid(pa.table({"t": order_id}), "t") & ~pc.is_in(
        order_id, value_set=pa.array(_NOT_AN_ORDER)
    ).to_numpy(zero_copy_only=False)
    fresh = seen.add(_hash(hits, rows[real], ["event_name", "transaction_id"]))
    stats.duplicate_conversions += int((~fresh).sum())
    keep = ~real
    keep[real] = fresh
    stats.conversions += int(keep.sum())
    return rows[keep]


def _hash(table: pa.Table, rows: np.ndarray, columns: list[str]) -> np.ndarray:
    part = table.select(columns).take(rows).to_pandas(types_mapper=_PANDAS_TYPES.get)
    return pd.util.hash_pandas_object(part, index=False).to_numpy()


def _frame(
    picked: pa.Table,
    kind: np.ndarray,
    batch: pa.RecordBatch,
    rows: np.ndarray,
    options: Options,
    stats: GA4Stats,
) -> pd.DataFrame:
    """The event frame of the picked hits (touches, identity links, conversions)."""
    frame = picked.to_pandas(types_mapper=_PANDAS_TYPES.get)
    revenue = "revenue" if options.revenue == "purchase_revenue" else "revenue_in_usd"
    is_conv, is_touch = kind == "conversion", kind == "touch"
    value = frame[revenue].to_numpy(dtype=float, na_value=np.nan)
    stats.conversions_without_value += int((is_conv & np.isnan(value)).sum())
    channel = pd.Series(pd.NA, index=frame.index, dtype="string")
    if is_touch.any():
        t = frame.loc[is_touch]
        grouped = options.rules.group(t["source"], t["medium"], t["campaign"], t["click_id"])
        channel[is_touch] = grouped.to_numpy()
    micros = frame["timestamp_us"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "user_id": frame["user_id"],
            "anonymous_id": frame["user_pseudo_id"],
            "timestamp": pd.to_datetime(micros, unit="us", utc=True).as_unit("ns"),
            "event_type": pd.array(kind, dtype="string"),
            "channel": channel,
            "value": np.where(is_conv, np.nan_to_num(value, nan=0.0), np.nan),
            **{c: frame[c] for c in EVENT_COLUMNS[6:-1]},
            "event_id": pd.array(event_ids(batch, rows), dtype="string"),
        }
    )


def empty_frame() -> pd.DataFrame:
    """An event frame without rows (an export with no rows at all)."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in EVENT_COLUMNS})
