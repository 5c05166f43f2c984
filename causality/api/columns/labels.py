"""`Labels`: an append-only string dictionary, so event columns hold integer codes."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa


class Labels:
    """Strings and their codes; a code, once given, never changes (missing is -1).

    Codes are only ever appended, so a reader that knows how many labels existed
    when its arrays were built can decode them while new labels are added.

    Examples
    --------
    >>> labels = Labels()
    >>> labels.encode(np.array(["b", None, "a", "b"], dtype=object)).tolist()
    [0, -1, 1, 0]
    >>> labels.decode(np.array([1, -1, 0], dtype=np.int32)).to_pylist()
    ['a', None, 'b']
    """

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._labels: list[str] = []
        self._chars = 0
        self._arrow: pa.Array = pa.array([], type=pa.string())
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Number of labels."""
        return len(self._labels)

    @property
    def nbytes(self) -> int:
        """Approximate memory in bytes.

        The characters, plus ~120 bytes per label for the string object, its
        dictionary entry and its list slot.
        """
        return self._chars + 120 * len(self._labels)

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Codes of ``values`` (an object array of str or None), adding new labels."""
        return self.encode_parts([pd.factorize(values, use_na_sentinel=True)])

    def encode_parts(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Codes of factorised chunks (`pandas.factorize` output each), concatenated.

        The chunks' distinct values are factorised once more together, so the
        dictionary is consulted once per distinct value of all chunks, never per row.
        """
        if not parts:
            return np.empty(0, dtype=np.int32)
        joint, distinct = pd.factorize(np.concatenate([np.asarray(u) for _, u in parts]))
        known = np.fromiter((self._code(s) for s in distinct), dtype=np.int32, count=len(distinct))
        out, offset = [], 0
        for codes, uniques in parts:
            # -1 (missing) reads the appended slot, which holds -1.
            mapping = np.append(known[joint[offset : offset + len(uniques)]], -1)
            offset += len(uniques)
            out.append(mapping[codes])
        return np.concatenate(out).astype(np.int32, copy=False)

    def label(self, code: int) -> str:
        """The label of ``code``."""
        return self._labels[code]

    def code_of(self, label: str) -> int:
        """The code of ``label``, or -1 when it was never seen."""
        return self._codes.get(label, -1)

    def decode(self, codes: np.ndarray) -> pa.Array:
        """Strings of ``codes`` as an Arrow array; -1 gives null."""
        table = self._table(int(codes.max(initial=-1)) + 1)
        return table.take(pa.array(codes, mask=codes < 0))

    def strings(self, n: int) -> pa.Array:
        """The first ``n`` labels (codes ``0 .. n-1``) as an Arrow array."""
        return self._table(n).slice(0, n)

    def _code(self, label: str) -> int:
        code = self._codes.get(label)
        if code is None:
            code = self._codes[label] = len(self._labels)
            self._labels.append(label)
            self._chars += len(label)
        return code

    def _table(self, n: int) -> pa.Array:
        with self._lock:
            have = len(self._arrow)
            if have < n:
                # Only the labels added since are converted: with a million ids, converting
                # them all again took 40-60 ms per catch-up that brought a new one.
                new = pa.array(self._labels[have : len(self._labels)], type=pa.string())
                self._arrow = pa.concat_arrays([self._arrow, new])
            return self._arrow
