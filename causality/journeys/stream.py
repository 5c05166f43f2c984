"""Cut a stream of person- and time-ordered events into journeys, one Arrow batch at a time.

The DuckDB path sorts touch and conversion rows by person, time and input row, and
streams them here as Arrow record batches. Each batch is cut exactly as the pandas
path cuts its sorted arrays (`causality.journeys.events._segments`): a journey ends
at every conversion and at a person's last event, and keeps the touches within
``lookback`` of its end. Only whole persons are cut; the last person of a batch is
carried into the next, so memory holds one batch plus the journeys built so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Column names of the sorted stream (see `causality.journeys.duckdb_sql.sorted_events_query`).
USER, ANONYMOUS, TIME, CONVERSION, CODE, VALUE, OFFLINE = (
    "__c_pu",
    "__c_pa",
    "__c_t",
    "__c_conv",
    "__c_code",
    "__c_value",
    "__c_offline",
)


@dataclass
class JourneyParts:
    """Journeys in columnar pieces, concatenated by `JourneyParts.finish`."""

    extra_names: Sequence[str]
    codes: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    lengths: list[np.ndarray] = field(default_factory=list)
    converted: list[np.ndarray] = field(default_factory=list)
    value: list[np.ndarray] = field(default_factory=list)
    conversion_times: list[np.ndarray] = field(default_factory=list)
    offline: list[np.ndarray] = field(default_factory=list)
    first_rows: list[pa.Table] = field(default_factory=list)
    unattributed: list[np.ndarray] = field(default_factory=list)  # values of such conversions

    def finish(self) -> dict[str, object]:
        """Concatenate the pieces into whole arrays.

        Touch codes and times, per-journey fields, the first touch row of every
        journey, and the values of the unattributed conversions.
        """

        def cat(chunks: list[np.ndarray], dtype: object) -> np.ndarray:
            return np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)

        lengths = cat(self.lengths, np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return {
            "codes": cat(self.codes, np.int32),
            "times": cat(self.times, np.int64),
            "offsets": offsets,
            "converted": cat(self.converted, bool),
            "value": cat(self.value, np.float64),
            "conversion_times": cat(self.conversion_times, np.int64),
            "offline": cat(self.offline, bool),
            "first_rows": pa.concat_tables(self.first_rows) if self.first_rows else None,
            "unattributed": cat(self.unattributed, np.float64),
        }


def same_person(table: pa.Table) -> np.ndarray:
    """Whether each row (from the second) has the person of the row before it.

    A person is a user id, or (user id NULL) an anonymous id; the stream sets the
    anonymous id only when the user id is NULL, so either column matching means
    the same person.
    """
    n = table.num_rows
    if n < 2:
        return np.zeros(0, dtype=bool)
    same = np.zeros(n - 1, dtype=bool)
    for name in (USER, ANONYMOUS):
        column = table.column(name)
        if column.null_count == n:
            continue
        equal = pc.equal(column.slice(1), column.slice(0, n - 1))
        same |= pc.fill_null(equal, False).to_numpy(zero_copy_only=False)
    return same


def cut_journeys(
    batches: Iterable[pa.RecordBatch],
    lookback_ns: int | None,
    extra_names: Sequence[str],
    progress: object | None = None,
) -> JourneyParts:
    """Build journeys from batches sorted by person, then time, then input row."""
    parts = JourneyParts(extra_names=extra_names)
    carry: pa.Table | None = None
    for batch in batches:
        table = pa.Table.from_batches([batch])
        if carry is not None and carry.num_rows:
            table = pa.concat_tables([carry, table])
        table = table.combine_chunks()
        same = same_person(table)
        starts = np.flatnonzero(~same) + 1
        # Rows before the last person's first row hold whole persons only.
        cut = int(starts[-1]) if len(starts) else 0
        if cut:
            _cut_whole_persons(table.slice(0, cut), same[: cut - 1], lookback_ns, parts)
        carry = table.slice(cut)
        if progress is not None:
            progress.update(batch.num_rows)
    if carry is not None and carry.num_rows:
        _cut_whole_persons(carry, same_person(carry), lookback_ns, parts)
    return parts


def _cut_whole_persons(
    table: pa.Table, same: np.ndarray, lookback_ns: int | None, parts: JourneyParts
) -> None:
    """Append the journeys of rows holding whole persons (``same``: row i+1 is row i's person)."""
    t = table.column(TIME).to_numpy()
    conv = table.column(CONVERSION).to_numpy(zero_copy_only=False)
    n = len(t)
    new_segment = np.empty(n, dtype=bool)
    new_segment[0] = True
    new_segment[1:] = ~same | conv[:-1]
    segment = np.cumsum(new_segment, dtype=np.int64) - 1
    last = np.append(np.flatnonzero(new_segment)[1:], n) - 1
    if lookback_ns is None:
        in_window = ~conv
    else:
        in_window = ~conv & (t >= (t[last] - lookback_ns)[segment])
    touches = np.bincount(segment[in_window], minlength=len(last)).astype(np.int64)
    converts = conv[last]
    value = table.column(VALUE).to_numpy(zero_copy_only=False)[last]
    parts.unattributed.append(value[converts & (touches == 0)])

    journey = np.flatnonzero(touches > 0)
    kept = np.flatnonzero(in_window)
    lengths = touches[journey]
    first = kept[np.concatenate([[0], np.cumsum(lengths)[:-1]])] if len(journey) else kept[:0]
    converted = converts[journey]
    parts.codes.append(table.column(CODE).to_numpy(zero_copy_only=False)[kept])
    parts.times.append(t[kept])
    parts.lengths.append(lengths)
    parts.converted.append(converted)
    parts.value.append(np.where(converted, value[journey], 0.0))
    parts.conversion_times.append(t[last[journey]])
    offline = table.column(OFFLINE).to_numpy(zero_copy_only=False)[last[journey]]
    parts.offline.append(offline & converted)
    keep_columns = [USER, ANONYMOUS, *parts.extra_names]
    parts.first_rows.append(table.select(keep_columns).take(pa.array(first)))
