"""Exact Shapley values by subset sums over coalitions.

For a coalition ``S`` of ``s`` channels and a game ``v`` on its subsets, the
Shapley value of channel ``c`` is

    phi_c = sum_{T ⊆ S, c ∈ T} w_in(t, s) v(T) - sum_{T ⊆ S, c ∉ T} w_out(t, s) v(T)

with ``w_in(t, s) = (t-1)!(s-t)!/s!`` and ``w_out(t, s) = t!(s-t-1)!/s! =
B(t+1, s-t)`` (a Beta function). The data-defined games here are zero off the
observed coalitions, so only *observed* subsets ``T`` of each observed ``S``
matter. Writing ``w_in = h - w_out`` with ``h(t, s) = w_out(t, s) s / t``, the
credit of a whole family of coalitions, each scaled by ``N(S)``, is

    credit = sum_T 1_T v(T) Up(T) - sum_S 1_S N(S) Down(S)
    Down(S) = sum_{T ⊊ S} w_out(t, s) v(T)
    Up(T)   = (sum_{S ⊋ T} s N(S) w_out(t, s) + N(T)) / t

so one sparse matrix of proper-subset pairs ``(S, T)`` weighted by
``w_out`` serves every bootstrap replicate: two sparse products per batch,
whatever the coalition sizes. The pairs are found once by walking a prefix
trie of the coalitions' sorted member lists, so the work follows the number
of observed subset pairs, never ``2^s``.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import scipy.sparse as sp
from scipy.special import beta

#: Trie nodes x channels up to which child lookups use a dense table.
DENSE_CHILD_TABLE = 32_000_000
#: Frontier entries processed at once while enumerating subset pairs.
CHUNK_ENTRIES = 4_000_000


def w_out(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Shapley weight ``t!(s-t-1)!/s!`` of a coalition of ``t`` lacking a channel of ``s``.

    Zero where ``t >= s`` (no channel of ``S`` is missing).

    Examples
    --------
    >>> w_out(np.array([0, 1, 2]), 3)  # 0!2!/3!, 1!1!/3!, 2!0!/3!
    array([0.33333333, 0.16666667, 0.33333333])
    """
    t, s = np.asarray(t, dtype=np.float64), np.asarray(s, dtype=np.float64)
    out = np.zeros(np.broadcast(t, s).shape)
    ok = np.broadcast_to(t < s, out.shape)
    out[ok] = beta(np.broadcast_to(t, out.shape)[ok] + 1, np.broadcast_to(s - t, out.shape)[ok])
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class _Trie:
    terminal: np.ndarray  # member index ending at each node, or -1
    child_key: np.ndarray  # parent * n_channels + channel of nodes 1.., sorted
    table: np.ndarray | None  # dense (node, channel) -> child, or None
    n_channels: int

    def child(self, node: np.ndarray, channel: np.ndarray) -> np.ndarray:
        key = node.astype(np.int64) * self.n_channels + channel
        if self.table is not None:
            return self.table[key]
        index = np.minimum(np.searchsorted(self.child_key, key), len(self.child_key) - 1)
        return np.where(self.child_key[index] == key, index + 1, -1)


def _build_trie(offsets: np.ndarray, members: np.ndarray, n_channels: int) -> _Trie:
    sizes = np.diff(offsets)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    depth = np.arange(len(members)) - np.repeat(offsets[:-1], sizes)
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(sizes.max(initial=0)) + 1))
    node_of = np.zeros(len(sizes), dtype=np.int64)
    keys, terminals, n_nodes = [], [np.array([-1])], 1
    for d in range(len(bounds) - 1):  # one pass per depth, at most the largest coalition
        entries = order[bounds[d] : bounds[d + 1]]
        who = owner[entries]
        key = node_of[who] * n_channels + members[entries]
        unique, inverse = np.unique(key, return_inverse=True)
        terminal = np.full(len(unique), -1, dtype=np.int64)
        ends = sizes[who] == d + 1
        terminal[inverse[ends]] = who[ends]
        node_of[who] = n_nodes + inverse
        keys.append(unique)
        terminals.append(terminal)
        n_nodes += len(unique)
    child_key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    table = None
    if n_nodes * n_channels <= DENSE_CHILD_TABLE:  # int32: half the cache misses
        table = np.full(n_nodes * n_channels, -1, dtype=np.int32)
        table[child_key] = np.arange(1, n_nodes, dtype=np.int32)
    return _Trie(
        terminal=np.concatenate(terminals),
        child_key=child_key,
        table=table,
        n_channels=n_channels,
    )


def subset_pairs(offsets: np.ndarray, members: np.ndarray, n_channels: int) -> sp.csr_array:
    """Proper subset pairs of a coalition family, weighted: ``P[S, T] = w_out(|T|, |S|)``.

    Row ``S`` holds every coalition ``T`` of the family with ``T ⊊ S``.

    Parameters
    ----------
    offsets, members : ndarray of int
        A family of distinct coalitions as sorted member lists (CSR).
    n_channels : int

    Notes
    -----
    A breadth-first walk of the family's prefix trie for every query coalition,
    extending a prefix only by the query's own later channels: the work follows
    the number of prefixes of observed coalitions inside each query, not ``2^s``.
    A pair found at depth ``d`` of the walk has ``|T| = d``, which gives its weight.

    Examples
    --------
    >>> family = [[0], [1], [0, 1], [0, 1, 2]]  # {a}, {b}, {a,b}, {a,b,c}
    >>> offsets = np.cumsum([0] + [len(c) for c in family])
    >>> pairs = subset_pairs(offsets, np.concatenate(family), n_channels=3)
    >>> pairs.toarray().round(4)  # row {a,b,c}: {a} and {b} weigh 1!1!/3!, {a,b} 2!0!/3!
    array([[0.    , 0.    , 0.    , 0.    ],
           [0.    , 0.    , 0.    , 0.    ],
           [0.5   , 0.5   , 0.    , 0.    ],
           [0.1667, 0.1667, 0.3333, 0.    ]])
    """
    n = len(offsets) - 1
    sizes = np.diff(offsets)
    largest = int(sizes.max(initial=0))
    table = w_out(np.arange(largest + 1)[:, None], np.arange(largest + 1)[None, :])
    trie = _build_trie(offsets, members, n_channels)
    # Chunk queries on the bound 2^s of a walk (capped: observed subsets of a large
    # coalition are far fewer than its subsets), which bounds memory.
    bound = np.cumsum(2.0 ** np.minimum(sizes, 12))
    found: list[tuple[np.ndarray, np.ndarray, int]] = []
    start = 0
    while start < n:
        base = bound[start - 1] if start else 0.0
        stop = min(max(int(np.searchsorted(bound, base + CHUNK_ENTRIES)), start + 1), n)
        found.extend(_walk(trie, offsets, members, start, stop))
        start = stop
    # Counting sort into CSR: each level's hits are already sorted by query.
    hits = np.concatenate([q for q, _, _ in found] or [np.zeros(0, dtype=np.int32)])
    counts = np.bincount(hits, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    index_dtype = np.int32 if n < 2**31 and indptr[-1] < 2**31 else np.int64
    indices = np.empty(indptr[-1], dtype=index_dtype)
    data = np.empty(indptr[-1])
    filled = indptr[:-1].copy()
    for q, t, size in found:
        starts = np.flatnonzero(np.diff(q, prepend=-1))
        runs = np.diff(starts, append=len(q))
        slot = filled[q] + (np.arange(len(q)) - np.repeat(starts, runs))
        indices[slot] = t
        data[slot] = table[size, sizes[q]]
        filled[q[starts]] += runs
    return sp.csr_array((data, indices, indptr.astype(index_dtype)), shape=(n, n))


def _walk(
    trie: _Trie, offsets: np.ndarray, members: np.ndarray, start: int, stop: int
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Subset pairs ``(S, T, |T|)`` of queries ``start..stop-1``, one step per trie level."""
    q = np.arange(start, stop, dtype=np.int32)
    node = np.zeros(len(q), dtype=np.int32)
    cur = (offsets[start:stop] - 1).astype(np.int32)  # members index of the last channel
    end = offsets[start + 1 : stop + 1].astype(np.int32)
    found, depth = [], 0
    while len(q):
        depth += 1
        n_ext = end - cur - 1
        total = int(n_ext.sum())
        if total == 0:
            break
        first = np.cumsum(n_ext) - n_ext
        index = np.repeat(cur + 1 - first, n_ext) + np.arange(total, dtype=np.int32)
        child = trie.child(np.repeat(node, n_ext), members[index])
        keep = np.flatnonzero(child >= 0)
        q, end = np.repeat(q, n_ext)[keep], np.repeat(end, n_ext)[keep]
        node, cur = child[keep].astype(np.int32), index[keep]
        term = trie.terminal[node]
        hit = (term >= 0) & (term != q)
        if hit.any():
            found.append((q[hit], term[hit].astype(np.int32), depth))
    return found


@dataclasses.dataclass(frozen=True, eq=False)
class SubsetGame:
    """Exact Shapley credit of a family of coalitions, each a game on its observed subsets.

    Attributes
    ----------
    weights : csr_array
        ``weights[S, T] = w_out(|T|, |S|)`` for every proper subset ``T`` of ``S``.
    sizes : ndarray
        Channels per coalition.
    membership : csr_array
        Coalitions x channels 0/1 matrix.
    """

    weights: sp.csr_array
    sizes: np.ndarray
    membership: sp.csr_array

    @classmethod
    def build(cls, offsets: np.ndarray, members: np.ndarray, n_channels: int) -> SubsetGame:
        """Find the subset pairs of a coalition family and weight them."""
        pairs = subset_pairs(offsets, members, n_channels)
        sizes = np.diff(offsets)
        membership = sp.csr_array(
            (np.ones(len(members)), members, offsets), shape=(len(sizes), n_channels)
        )
        return cls(weights=pairs, sizes=sizes, membership=membership)

    @property
    def n_pairs(self) -> int:
        """Proper subset pairs among the coalitions."""
        return int(self.weights.nnz)

    @functools.cached_property
    def weights32(self) -> sp.csr_array:
        """``weights`` in single precision, sharing its index arrays."""
        w = self.weights
        return sp.csr_array((w.data.astype(np.float32), w.indices, w.indptr), shape=w.shape)

    def credit(self, v: np.ndarray, scales: list[np.ndarray]) -> list[np.ndarray]:
        """Channel credit ``sum_S N(S) phi^S(v)`` for each scale ``N`` in ``scales``.

        Parameters
        ----------
        v : ndarray, shape (n_coalitions, n_batch)
            The game's value of each coalition, one column per replicate (columns,
            so that sparse products read contiguous rows without copies).
        scales : list of ndarray, shape (n_coalitions, n_batch)
            Per-coalition multipliers of the Shapley values (one credit each).

        Returns
        -------
        list of ndarray, shape (n_channels, n_batch)

        Notes
        -----
        With more than one column (a batch of bootstrap replicates) the two
        products over the subset pairs run in single precision: they are bound by
        memory traffic, so this halves their time, and the relative error (about
        1e-6) is far below the bootstrap's own noise. One column (the point
        estimate) is computed in double precision.
        """
        width = v.shape[1]
        weights = self.weights if width == 1 else self.weights32
        sizes = self.sizes[:, None]
        stacked = np.concatenate([n * sizes for n in scales], axis=1)
        down = (weights @ v.astype(weights.dtype)).astype(np.float64)
        up = (weights.T @ stacked.astype(weights.dtype)).astype(np.float64)
        out = []
        for k, n in enumerate(scales):
            up_k = (up[:, k * width : (k + 1) * width] + n) / sizes
            out.append(self.membership.T @ (v * up_k - n * down))
        return out

    def per_coalition(self, v: np.ndarray) -> sp.csr_array:
        """Shapley values ``phi^S_c(v)`` of every coalition (rows) and channel, one game ``v``."""
        down = self.weights @ v
        scaled = self.membership * (v / self.sizes)[:, None]
        inside = (self.weights @ scaled) * self.sizes[:, None] + scaled
        return sp.csr_array(inside - self.membership * down[:, None])


def dense_game_shapley(values: np.ndarray, n_players: int) -> np.ndarray:
    """Exact Shapley values of a game given on all ``2**n_players`` bitmasks.

    ``values[m]`` is the worth of the coalition whose members are the set bits
    of ``m``. One vectorised pass per player over the coalitions lacking it.

    Examples
    --------
    The glove game: player 0 holds a left glove, players 1 and 2 a right one.

    >>> worth = np.array([0, 0, 0, 1, 0, 1, 0, 1], dtype=float)  # min(left, right)
    >>> dense_game_shapley(worth, 3).round(4)
    array([0.6667, 0.1667, 0.1667])
    """
    masks = np.arange(2**n_players, dtype=np.int64)
    size = np.bitwise_count(masks.astype(np.uint64)).astype(np.int64)
    weight = w_out(size, n_players)
    phi = np.empty(n_players)
    for player in range(n_players):  # a loop over players, never over subsets
        without = masks[(masks >> player) & 1 == 0]
        gain = values[without | (1 << player)] - values[without]
        phi[player] = float(np.dot(weight[without], gain))
    return phi
