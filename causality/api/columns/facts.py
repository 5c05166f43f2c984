"""Facts about each label of a `Labels` dictionary, computed once and kept.

Cutting journeys straight from codes needs, per id, what `Journeys.from_events`
would derive from its string: its rank in sorted order (persons are ordered by
id), whether it is blank (read as missing), and whether it is the private id of an
unmatched offline conversion. Labels are append-only, so the facts of old labels
never change; only ranks are recomputed, when new labels have arrived.
"""

from __future__ import annotations

import bisect
import threading

import numpy as np
import pyarrow.compute as pc

from causality.api.columns.labels import Labels

UNMATCHED_PREFIX = "unmatched:"
# Only characters that `str.isspace` accepts (the ids `str.strip` empties): RE2's \s
# knows ASCII white space only.
_BLANK = (
    r"^[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]*$"
)


class LabelFacts:
    """Rank, blankness and the unmatched prefix of every label of one `Labels`.

    The dictionary is passed to each call rather than held, so that a cache keyed
    weakly by the dictionary (`causality.api.columns.journeys.FactsCache`) lets both go
    together.
    """

    #: New labels are placed among the ranked ones one binary search each, up to this
    #: share of them; more are ranked by sorting every label again.
    INSERT_SHARE = 1 / 16

    def __init__(self) -> None:
        self._rank = np.empty(0, dtype=np.int32)  # codes are int32: so are ranks
        self._order = np.empty(0, dtype=np.int64)  # codes in sorted order
        self._blank = np.empty(0, dtype=bool)
        self._unmatched = np.empty(0, dtype=bool)
        self._lock = threading.Lock()

    def rank(self, labels: Labels, n: int) -> np.ndarray:
        """Sort rank of labels ``0 .. n-1`` or more (ranks keep the relative order).

        Arrow sorts strings by their UTF-8 bytes, which is code-point order, the
        order pandas (and Python) sort them in.
        """
        with self._lock:
            if len(self._rank) < n:
                size = len(labels)
                ranked = len(self._order)
                if 0 < size - ranked <= ranked * self.INSERT_SHARE:
                    order = self._inserted(labels, size)
                else:
                    order = pc.array_sort_indices(labels.strings(size)).to_numpy()
                rank = np.empty(size, dtype=np.int32)
                rank[order] = np.arange(size, dtype=np.int32)
                self._rank, self._order = rank, order.astype(np.int64, copy=False)
            return self._rank

    def _inserted(self, labels: Labels, size: int) -> np.ndarray:
        """The sorted order with the labels added since placed by binary search.

        A catch-up brings a few new ids to a dictionary of a million: sorting them all
        again took ~0.3 s, placing the few takes a millisecond. Labels are distinct, and
        Python compares strings by code point, as Arrow's sort does.
        """
        ranked = len(self._order)
        new = labels.strings(size).slice(ranked).to_pylist()
        new_order = sorted(range(len(new)), key=new.__getitem__)
        old = self._order
        label = labels.label
        at = [bisect.bisect_left(old, new[i], key=lambda code: label(int(code))) for i in new_order]
        return np.insert(old, at, ranked + np.asarray(new_order, dtype=np.int64))

    def blank(self, labels: Labels, n: int) -> np.ndarray:
        """Whether each label is empty or white space only (pandas reads those as missing)."""
        with self._lock:
            self._extend(labels, n)
            return self._blank

    def unmatched(self, labels: Labels, n: int) -> np.ndarray:
        """Whether each label starts with ``unmatched:`` (an unmatched offline conversion)."""
        with self._lock:
            self._extend(labels, n)
            return self._unmatched

    def _extend(self, labels: Labels, n: int) -> None:
        done = len(self._blank)
        if done >= n:
            return
        size = len(labels)
        new = labels.strings(size).slice(done)
        blank = pc.match_substring_regex(new, _BLANK).to_numpy(zero_copy_only=False)
        unmatched = pc.starts_with(new, UNMATCHED_PREFIX).to_numpy(zero_copy_only=False)
        self._blank = np.concatenate([self._blank, blank])
        self._unmatched = np.concatenate([self._unmatched, unmatched])
