"""`EventColumns`: touches and conversions of one mode as sorted numpy arrays.

Rows are in ``(ts, pk)`` order, the order the reference SQL reads them in, so a
time window is two binary searches. Strings are codes into shared `Labels`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

#: Every column and its dtype. Bytes per stored event: the sum of the item sizes (48).
FIELDS: dict[str, np.dtype] = {
    "ts": np.dtype(np.int64),  # event time, epoch microseconds UTC
    "kind": np.dtype(np.int8),  # TOUCH or CONVERSION
    "name": np.dtype(np.int32),  # conversion name (code in `names`; -1 for touches)
    # user_id, else (offline conversions) the user of a matched click id
    "user": np.dtype(np.int32),
    "user_matched": np.dtype(bool),  # `user` came from a click-id match
    # anonymous_id, else the matched click's anonymous id, else 'unmatched:<event_id>'
    "anon": np.dtype(np.int32),
    "linkable": np.dtype(bool),  # `anon` is the event's own anonymous_id
    "channel_group": np.dtype(np.int32),
    "source": np.dtype(np.int32),
    "medium": np.dtype(np.int32),
    "campaign": np.dtype(np.int32),
    "value": np.dtype(np.float64),  # NaN when the event has none
    "offline": np.dtype(bool),
}
BYTES_PER_EVENT = sum(dtype.itemsize for dtype in FIELDS.values())
TOUCH, CONVERSION = 0, 1


@dataclasses.dataclass(frozen=True)
class EventColumns:
    """Equal-length arrays, one per `FIELDS` entry, sorted by time (ties by primary key).

    Never modified in place: merging builds new arrays, so a reader holding an
    instance keeps a consistent view while the store moves on.
    """

    arrays: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        # Frames cut from the columns may share their memory: nothing may write to it.
        for array in self.arrays.values():
            array.flags.writeable = False

    @classmethod
    def empty(cls) -> EventColumns:
        """No rows."""
        return cls({name: np.empty(0, dtype=dtype) for name, dtype in FIELDS.items()})

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.arrays["ts"])

    def __getitem__(self, name: str) -> np.ndarray:
        """One column."""
        return self.arrays[name]

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(a.nbytes for a in self.arrays.values())

    def take(self, rows: np.ndarray | slice) -> EventColumns:
        """The rows ``rows`` (indices or a slice), in that order."""
        return EventColumns({name: a[rows] for name, a in self.arrays.items()})

    def select(self, names: Sequence[str]) -> EventColumns:
        """Only the columns ``names`` (the same arrays, no copy)."""
        return EventColumns({name: self.arrays[name] for name in names})

    def window(self, lo: int, hi: int) -> slice:
        """Rows with ``lo <= ts < hi``."""
        ts = self.arrays["ts"]
        return slice(int(np.searchsorted(ts, lo, "left")), int(np.searchsorted(ts, hi, "left")))

    def merge(self, later: EventColumns) -> EventColumns:
        """Both row sets in ``(ts, pk)`` order; every row of ``later`` has a larger pk.

        A linear merge: each row of ``later`` goes after the rows of ``self`` with a
        time up to its own, which keeps ties in primary-key order. The rows of ``self``
        before the first of ``later`` (new events are mostly recent: nearly all of
        them) are copied as one block; only the rest is interleaved.
        """
        if len(later) == 0:
            return self
        if len(self) == 0:
            return later
        slots = np.searchsorted(self.arrays["ts"], later.arrays["ts"], side="right")
        head = int(slots[0])  # `later` is sorted by time: its first slot is the lowest
        slots += np.arange(len(later)) - head
        from_later = np.zeros(len(self) + len(later) - head, dtype=bool)
        from_later[slots] = True
        from_self = ~from_later
        merged = {}
        for name, mine in self.arrays.items():
            out = np.empty(len(self) + len(later), dtype=mine.dtype)
            out[:head] = mine[:head]
            rest = out[head:]
            rest[from_later] = later.arrays[name]
            rest[from_self] = mine[head:]
            merged[name] = out
        return EventColumns(merged)
