"""Monte Carlo Shapley values: mean marginal contributions over random permutations.

For a coalition ``S``, draw ``n_permutations`` orders of its channels; a
channel's estimate is the mean gain in ``v`` when it joins the channels before
it. Every permutation's gains add up to ``v(S)``, so the estimates do too
(efficiency holds exactly, not only on average). The standard error of each
estimate is the standard deviation of its gains over ``sqrt(n_permutations)``.

For the data-defined games the estimate is linear in ``v``: it is kept as a
sparse operator from coalition values to (coalition, channel) cells, so every
bootstrap replicate reuses the same permutations (common random numbers; the
bootstrap intervals then carry sampling noise, and the standard errors the
Monte Carlo noise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from causality.models.shapley.coalitions import WORD, as_keys, n_words

#: Cells (coalitions x permutations x channels) drawn at once.
CHUNK_CELLS = 2_000_000


def permutation_prefixes(
    members: np.ndarray, n_permutations: int, rng: np.random.Generator, n_channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random orders of equal-size coalitions and the bitmask of every prefix.

    Parameters
    ----------
    members : ndarray of int, shape (n_coalitions, k)
        Sorted channels of each coalition.

    Returns
    -------
    ranks : ndarray of int, shape (n_coalitions, n_permutations, k)
        ``ranks[i, p, j]``: which member (its rank in ``members[i]``) comes ``j``-th.
    prefixes : ndarray of uint64, shape (n_coalitions, n_permutations, k, n_words)
        Bitmask of the first ``j + 1`` channels of each order.
    """
    n, k = members.shape
    ranks = np.argsort(rng.random((n, n_permutations, k)), axis=-1)
    channels = np.take_along_axis(members[:, None, :], ranks, axis=-1)
    bits = np.left_shift(np.uint64(1), (channels % WORD).astype(np.uint64))
    word = channels // WORD
    prefixes = np.empty((n, n_permutations, k, n_words(n_channels)), dtype=np.uint64)
    for w in range(prefixes.shape[-1]):  # one pass per 64 channels
        part = np.where(word == w, bits, np.uint64(0))
        prefixes[..., w] = np.bitwise_or.accumulate(part, axis=-1)
    return ranks, prefixes


def _gains_by_rank(values: np.ndarray, ranks: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """Marginal gains ``(n, n_permutations, k)`` rearranged so the last axis is member rank."""
    gains = np.diff(values, axis=-1, prepend=empty)
    out = np.empty_like(gains)
    np.put_along_axis(out, ranks, gains, axis=-1)
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class PermutationOperator:
    """Sampled Shapley values of a set of coalitions as a linear map of coalition values.

    Attributes
    ----------
    operator : csr_array, shape (n_cells, n_family)
        ``phi = operator @ v`` gives every (coalition, channel) cell's estimate.
    cell_coalition, cell_channel : ndarray of int
        The coalition (index into the family) and channel of each cell.
    standard_error : ndarray
        Monte Carlo standard error of each cell at the values given to `build`.
    """

    operator: sp.csr_array
    cell_coalition: np.ndarray
    cell_channel: np.ndarray
    standard_error: np.ndarray

    @classmethod
    def build(
        cls,
        queries: np.ndarray,
        offsets: np.ndarray,
        members: np.ndarray,
        lookup: Callable[[np.ndarray], np.ndarray],
        values: np.ndarray,
        *,
        n_channels: int,
        n_permutations: int,
        rng: np.random.Generator,
    ) -> PermutationOperator:
        """Draw permutations for the coalitions ``queries`` of a family.

        ``lookup`` maps prefix bitmasks to family indices (-1 when a prefix is not
        in the family, where the game is 0); ``values`` is the game at the point
        estimate, for the standard errors.
        """
        sizes = np.diff(offsets)[queries]
        blocks, errors, coalition, channel = [], [], [], []
        for k in np.unique(sizes):  # coalitions of equal size are drawn together
            group = queries[sizes == k]
            per_chunk = max(1, CHUNK_CELLS // (n_permutations * int(k)))
            for start in range(0, len(group), per_chunk):
                part = group[start : start + per_chunk]
                own = members[offsets[part][:, None] + np.arange(k)]
                ranks, prefixes = permutation_prefixes(own, n_permutations, rng, n_channels)
                index = lookup(prefixes)
                gains = _gains_by_rank(np.where(index >= 0, values[index], 0.0), ranks)
                errors.append(gains.std(axis=1, ddof=1).ravel() / np.sqrt(n_permutations))
                blocks.append(_chunk_operator(index, ranks, len(offsets) - 1, n_permutations))
                coalition.append(np.repeat(part, k))
                channel.append(own.ravel())
        operator = sp.csr_array(sp.vstack(blocks, format="csr"))
        return cls(
            operator=operator,
            cell_coalition=np.concatenate(coalition),
            cell_channel=np.concatenate(channel),
            standard_error=np.concatenate(errors),
        )

    def credit(self, v: np.ndarray, scales: list[np.ndarray], n_channels: int) -> list[np.ndarray]:
        """Channel credit ``sum_S N(S) phi^S(v)`` for each scale ``N``.

        ``v`` and the scales have shape (n_family, n_batch); results (n_channels, n_batch).
        """
        phi = self.operator @ v
        by_channel = sp.csr_array(
            (np.ones(len(self.cell_channel)), (self.cell_channel, np.arange(len(phi)))),
            shape=(n_channels, len(phi)),
        )
        return [by_channel @ (phi * n[self.cell_coalition]) for n in scales]

    def channel_standard_errors(self, scale: np.ndarray, n_channels: int) -> np.ndarray:
        """Standard error of each channel's credit: independent cells add in quadrature."""
        variance = (self.standard_error * scale[self.cell_coalition]) ** 2
        return np.sqrt(np.bincount(self.cell_channel, variance, minlength=n_channels))


def _chunk_operator(
    index: np.ndarray, ranks: np.ndarray, n_family: int, n_permutations: int
) -> sp.csr_array:
    """One chunk's rows of the operator, one per (coalition, member rank).

    A prefix's value enters with +1 the gain of the member that ends it and with -1
    the gain of the member that comes next; repeated prefixes are summed.
    """
    n, _, k = ranks.shape
    cell = np.arange(n)[:, None, None] * k + ranks
    after = np.concatenate([cell[..., 1:], np.full((*cell.shape[:-1], 1), -1)], axis=-1)
    rows, cols, data = [], [], []
    for target, sign in ((cell, 1.0), (after, -1.0)):
        ok = (index >= 0) & (target >= 0)
        rows.append(target[ok])
        cols.append(index[ok])
        data.append(np.full(int(ok.sum()), sign / n_permutations))
    coo = sp.coo_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n * k, n_family),
    )
    return coo.tocsr()


def sampled_game_shapley(
    game: Callable[[np.ndarray], np.ndarray],
    n_players: int,
    *,
    n_permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled Shapley values and standard errors of a game over ``n_players`` players.

    ``game`` maps an array of distinct prefix bitmasks (n, n_words) to worths;
    it is called once, on the distinct prefixes of all permutations (and once
    on the empty set).

    Examples
    --------
    An additive game (each player worth its own weight) has no sampling noise:

    >>> weights = np.array([1.0, 2.0, 3.0])
    >>> def game(masks):
    ...     bits = (masks[:, :1] >> np.arange(3, dtype=np.uint64)) & np.uint64(1)
    ...     return bits @ weights
    >>> phi, error = sampled_game_shapley(
    ...     game, 3, n_permutations=50, rng=np.random.default_rng(0))
    >>> phi, error
    (array([1., 2., 3.]), array([0., 0., 0.]))
    """
    members = np.arange(n_players)[None, :]
    ranks, prefixes = permutation_prefixes(members, n_permutations, rng, n_players)
    keys = as_keys(prefixes)
    _, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
    flat = prefixes.reshape(-1, prefixes.shape[-1])
    worth = np.asarray(game(flat[first]), dtype=np.float64)[inverse.reshape(-1)]
    empty = float(game(np.zeros((1, prefixes.shape[-1]), dtype=np.uint64))[0])
    gains = _gains_by_rank(worth.reshape(keys.shape), ranks, empty)[0]
    return gains.mean(axis=0), gains.std(axis=0, ddof=1) / np.sqrt(n_permutations)
