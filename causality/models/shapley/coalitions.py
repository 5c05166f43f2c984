"""Coalitions: the distinct set of channels of every record, as bitmasks.

Shapley credit depends on a journey only through its *coalition*, the set of
distinct channels it touched. Coalitions are held as bitmasks (one bit per
channel, in 64-bit words, so any number of channels works) and as sorted
member lists; a record maps to its coalition with one integer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from causality.journeys import Journeys

WORD = 64


def n_words(n_channels: int) -> int:
    """64-bit words per bitmask."""
    return max(1, -(-n_channels // WORD))


def masks_of_groups(codes: np.ndarray, offsets: np.ndarray, n_channels: int) -> np.ndarray:
    """Bitmask of the channels of each group ``codes[offsets[i]:offsets[i+1]]`` (non-empty).

    Returns
    -------
    ndarray of uint64, shape (n_groups, n_words)
    """
    codes = np.asarray(codes, dtype=np.int64)
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    bits = np.left_shift(np.uint64(1), (codes % WORD).astype(np.uint64))
    word = codes // WORD
    out = np.empty((len(starts), n_words(n_channels)), dtype=np.uint64)
    for w in range(out.shape[1]):  # one pass per 64 channels, never per group
        out[:, w] = np.bitwise_or.reduceat(np.where(word == w, bits, np.uint64(0)), starts)
    return out


def as_keys(masks: np.ndarray) -> np.ndarray:
    """One sortable scalar per bitmask: the word itself, or the row's bytes when wider."""
    if masks.shape[-1] == 1:
        return masks[..., 0]
    flat = np.ascontiguousarray(masks).reshape(-1, masks.shape[-1])
    keys = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1])))
    return keys.reshape(masks.shape[:-1])


def members_of(masks: np.ndarray, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted member channels of each mask: ``(offsets, channels)`` in CSR form."""
    shifts = np.arange(WORD, dtype=np.uint64)
    bits = (masks[:, :, None] >> shifts) & np.uint64(1)
    present = bits.reshape(len(masks), -1)[:, :n_channels].astype(bool)
    rows, channels = np.nonzero(present)  # row-major: sorted by coalition, then channel
    offsets = np.zeros(len(masks) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(masks)), out=offsets[1:])
    return offsets, channels.astype(np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class Coalitions:
    """The distinct coalitions of a set of records.

    Attributes
    ----------
    n_channels : int
    record : ndarray of int
        Coalition index of every record.
    masks : ndarray of uint64, shape (n_coalitions, n_words)
        Sorted by `keys`.
    keys : ndarray
        Sorted, unique scalar keys of ``masks`` (see `as_keys`).
    offsets, members : ndarray of int
        Sorted member channels of coalition ``i``: ``members[offsets[i]:offsets[i+1]]``.
    """

    n_channels: int
    record: np.ndarray
    masks: np.ndarray
    keys: np.ndarray
    offsets: np.ndarray
    members: np.ndarray

    @property
    def n_coalitions(self) -> int:
        """Number of distinct coalitions."""
        return len(self.keys)

    @property
    def sizes(self) -> np.ndarray:
        """Distinct channels per coalition."""
        return np.diff(self.offsets)

    def lookup(self, masks: np.ndarray) -> np.ndarray:
        """Index of each query bitmask among the coalitions, or -1 when absent."""
        keys = as_keys(masks)
        index = np.searchsorted(self.keys, keys)
        index = np.minimum(index, self.n_coalitions - 1)
        return np.where(self.keys[index] == keys, index, -1)


def coalitions_of(data: Journeys) -> Coalitions:
    """The coalitions of ``data``'s records (every record has at least one touch).

    Examples
    --------
    >>> import pandas as pd
    >>> journeys = Journeys.from_paths(pd.DataFrame(
    ...     {"path": ["A > B > A", "B > A", "C"], "conversions": [1, 2, 3]}))
    >>> coalitions = coalitions_of(journeys)
    >>> coalitions.n_coalitions, coalitions.sizes.tolist()  # {A,B} twice, {C}
    (2, [2, 1])
    >>> coalitions.record.tolist()
    [0, 0, 1]
    """
    n_channels = len(data.channels)
    masks = masks_of_groups(data.codes, data.offsets, n_channels)
    keys = as_keys(masks)
    unique, first, record = np.unique(keys, return_index=True, return_inverse=True)
    unique_masks = masks[first]
    offsets, members = members_of(unique_masks, n_channels)
    return Coalitions(
        n_channels=n_channels,
        record=record.reshape(-1).astype(np.int64),
        masks=unique_masks,
        keys=unique,
        offsets=offsets,
        members=members,
    )
