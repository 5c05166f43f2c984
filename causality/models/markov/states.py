"""Markov chain states of order k, and the record-by-transition incidence of a path table.

States are k-tuples of channels (shorter at the start of a path), plus the
``(start)``, ``(conversion)`` and ``(null)`` states. Everything here is built with
array operations over all touches at once.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from causality.errors import ConfigurationError
from causality.journeys import Journeys

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


#: Key spaces up to this size are indexed by direct lookup tables instead of hashing.
DIRECT_KEYS = 1 << 22
#: Narrow keys per gather in `_index`.
_GATHER_CHUNK = 1 << 18
#: Edge key spaces up to this size number edges straight from the steps' state keys
#: (`_edges_by_key`): it pays while the keys fit int16 (5M paths, 10 channels, order 3:
#: 0.124 -> 0.117 s), not beyond (30 channels, order 3: 0.206 -> 0.23 s).
_KEYED_EDGES = np.iinfo(np.int16).max
#: Steps summed per block in `ChainStructure._weighted_edges` (a few MB of weights).
_STEP_BLOCK = 1 << 19


@dataclass(frozen=True)
class ChainStructure:
    """The transient states of an order-k chain and how each record moves through them.

    States are numbered in order of their keys (the last ``order`` channels as digits,
    latest first), then ``(start)``; edges likewise by (from state, channel entered).

    Attributes
    ----------
    n_states : int
        Transient states; the last one is ``(start)``.
    state_channels : ndarray of int, shape (n_states, order)
        Channel codes of each state's tuple, -1 where the tuple is shorter.
    edge_from, edge_to : ndarray of int
        Transitions between transient states.
    offsets : ndarray of int, shape (n_records + 1,)
        Where each record's steps start in `touch_edge`.
    touch_edge : ndarray of int
        For every step of every record (repeats collapsed), the transition it takes.
    last_state : ndarray of int
        Each record's last transient state, from which it converts or ends.
    """

    order: int
    n_states: int
    state_channels: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    offsets: np.ndarray
    touch_edge: np.ndarray
    last_state: np.ndarray

    @functools.cached_property
    def incidence(self) -> sp.csr_array:
        """Sparse (n_records, n_edges + n_states): each record's transitions, then its end.

        Column ``e < n_edges`` counts how often every journey of the record takes edge
        ``e``; column ``n_edges + s`` is 1 where the record ends in state ``s``. One
        product with a batch of replicate weights gives all their counts. Built only
        for batches of replicates; one estimate needs weighted counts, not the matrix.
        """
        indices, indptr = self._incidence_pattern
        return sp.csr_array(
            (np.ones(len(indices)), indices, indptr),
            shape=(len(self.last_state), len(self.edge_from) + self.n_states),
        )

    @functools.cached_property
    def _incidence_pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """`incidence`'s CSR ``indices`` and ``indptr``."""
        n_records, n_edges = len(self.last_state), len(self.edge_from)
        # Row r holds r's steps, then its end: the steps shift down by one per record.
        # Narrow indices make the product, which streams them, cheaper.
        dtype = np.int32 if len(self.touch_edge) + n_records < 2**31 else np.int64
        indptr = self.offsets.astype(dtype) + np.arange(n_records + 1, dtype=dtype)
        end = indptr[1:] - 1
        indices = np.empty(indptr[-1], dtype=dtype)
        is_step = np.ones(len(indices), dtype=bool)
        is_step[end] = False
        indices[is_step] = self.touch_edge
        indices[end] = n_edges + self.last_state
        return indices, indptr

    @functools.cached_property
    def from_incidence(self) -> sp.csr_array:
        """Sparse (n_edges, n_states): which state each edge leaves."""
        n_edges = len(self.edge_from)
        return sp.csr_array(
            (np.ones(n_edges), (np.arange(n_edges), self.edge_from)),
            shape=(n_edges, self.n_states),
        )

    @property
    def start(self) -> int:
        """Index of the ``(start)`` state."""
        return self.n_states - 1

    def contains(self, n_channels: int) -> np.ndarray:
        """Boolean (n_channels, n_states): whether a state's tuple holds the channel."""
        out = np.zeros((n_channels, self.n_states), dtype=bool)
        for lag in range(self.order):
            code = self.state_channels[:, lag]
            valid = code >= 0
            out[code[valid], np.flatnonzero(valid)] = True
        return out

    def labels(self, channels: tuple[str, ...]) -> list[str]:
        """Display label of each transient state: channels, oldest first, joined by ', '."""
        names = np.asarray([*channels, ""], dtype=object)  # code -1 reads the blank name
        label = np.full(self.n_states - 1, "", dtype=object)
        for lag in range(self.order - 1, -1, -1):  # columns are lags: 0 is the latest
            part = names[self.state_channels[:-1, lag]]
            joined = np.where(label == "", part, label + ", " + part)
            label = np.where(part == "", label, joined)
        return [*label.tolist(), START]

    def transition_counts(
        self, conversions: np.ndarray, nulls: np.ndarray, converting: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counts per transition for a batch of resampled records.

        Parameters
        ----------
        conversions : ndarray, shape (n_batch, n_records) or (n_batch, len(converting))
            Converting journeys per record; with ``converting``, they may be given for
            those records only.
        nulls : ndarray, shape (n_batch, n_records)
        converting : ndarray of int, optional
            The records whose ``conversions`` may be non-zero (for resamples: those with
            observed conversions); by default found from ``conversions``.

        Returns
        -------
        edges : (n_batch, n_edges) counts between transient states
        to_conversion, to_null : (n_batch, n_states) counts of ending each way
        """
        if len(conversions) == 1 and converting is None:  # one estimate: no matrix needed
            edges = self._weighted_edges(conversions[0] + nulls[0])[None]
            return (
                edges,
                np.bincount(self.last_state, conversions[0], minlength=self.n_states)[None],
                np.bincount(self.last_state, nulls[0], minlength=self.n_states)[None],
            )
        exact_small = converting is not None
        if converting is None:
            converting = np.flatnonzero(conversions.any(axis=0))
        if conversions.shape[1] != len(converting):
            conversions = conversions[:, converting]
        counts = self._replicate_counts(conversions, nulls, converting, exact_small=exact_small)
        n_edges = len(self.edge_from)
        edges, ends = counts[:, :n_edges], counts[:, n_edges:]
        # Conversions binned by end state, every replicate in one sparse product: in the
        # draws' float32 when whole numbers stay exact (as in `_replicate_counts`), which
        # spares a float64 copy of the batch.
        by_end = sp.csc_array(
            (
                np.ones(len(converting), dtype=np.float32),
                self.last_state[converting],
                np.arange(len(converting) + 1),
            ),
            shape=(self.n_states, len(converting)),
        )
        to_conversion = None
        if exact_small and conversions.dtype == np.float32:
            to_conversion = by_end @ conversions.T
            to_conversion = None if to_conversion.max(initial=0.0) >= 2**24 else to_conversion
        if to_conversion is None:
            to_conversion = by_end.astype(np.float64) @ np.asarray(conversions.T, dtype=np.float64)
        to_conversion = to_conversion.T.astype(np.float64)
        return edges, to_conversion, ends - to_conversion

    def _weighted_edges(self, weights: np.ndarray) -> np.ndarray:
        """Sum over every step of its record's weight, per edge.

        In blocks of records: one touch-sized array of weights would be fresh memory,
        whose page faults cost more than the sums.
        """
        n_edges, offsets = len(self.edge_from), self.offsets
        lengths = np.diff(offsets)
        total = np.zeros(n_edges)
        first = np.searchsorted(offsets[:-1], np.arange(0, offsets[-1], _STEP_BLOCK))
        for lo, hi in itertools.pairwise(np.append(first, len(lengths))):
            step_weights = np.repeat(weights[lo:hi], lengths[lo:hi])
            total += np.bincount(
                self.touch_edge[offsets[lo] : offsets[hi]], step_weights, minlength=n_edges
            )
        return total

    @functools.cached_property
    def _incidence_t32(self) -> sp.csc_array:
        """`incidence` transposed, in float32 (its entries are ones).

        The CSR arrays of `incidence` read as CSC are its transpose; built directly, so
        that no float64 copy of the entries is ever made (fresh memory costs page faults).
        """
        indices, indptr = self._incidence_pattern
        return sp.csc_array(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(len(self.edge_from) + self.n_states, len(self.last_state)),
        )

    def _replicate_counts(
        self,
        conversions: np.ndarray,
        nulls: np.ndarray,
        converting: np.ndarray,
        *,
        exact_small: bool,
    ) -> np.ndarray:
        """Counts per transition and end state, shape (n_batch, n_edges + n_states).

        ``nulls @ incidence + conversions @ incidence[converting]``, with ``conversions``
        given for the ``converting`` records only. One sparse product per kind for the whole
        batch: the matrix is read once for all its replicates (one product per replicate
        read it once each, and reading it was most of the bootstrap's time). With
        ``exact_small`` (the weights are whole numbers: Poisson resamples) the products run
        in float32, half the bytes to stream, and are kept when every count is below 2**24:
        terms are non-negative, so partial sums only grow and a count below 2**24 was summed
        without rounding, equal to the float64 sum. Otherwise the batch is summed again in
        float64.
        """
        if exact_small:
            # Whole numbers: if their true sum is below 2**24, so is every term and partial
            # sum (a term that rounds in float32 is above 2**24 itself), and a rounded sum
            # cannot fall below 2**24 either, so the check below holds. (Draws already in
            # float32 are used as they are.)
            counts = self._incidence_t32 @ np.asarray(nulls.T, dtype=np.float32)
            counts += self._converting_incidence_t32(converting) @ np.asarray(
                conversions.T, dtype=np.float32
            )
            if counts.max(initial=0.0) < 2**24:
                return counts.T.astype(np.float64)
        transposed = self.incidence.T
        counts = transposed @ np.asarray(nulls.T, dtype=np.float64)
        counts += transposed[:, converting] @ np.asarray(conversions.T, dtype=np.float64)
        return counts.T

    def _converting_incidence_t32(self, converting: np.ndarray) -> sp.csc_array:
        """The columns of `_incidence_t32` of the ``converting`` records, kept for reuse."""
        kept = self.__dict__.get("_converting_t32")
        if kept is None or not np.array_equal(kept[0], converting):
            kept = (converting, self._incidence_t32[:, converting])
            # A frozen dataclass: cached in the instance dict, as `cached_property` does.
            self.__dict__["_converting_t32"] = kept
        return kept[1]


def chain_structure(journeys: Journeys, order: int, *, collapse: bool = True) -> ChainStructure:
    """Build the order-``order`` chain structure of ``journeys`` (records with touches).

    With ``collapse``, a state repeated at consecutive touches is visited once (no
    self-transitions), as ChannelAttribution does; absorption probabilities, and so
    removal effects, are the same either way.
    """
    n_channels = len(journeys.channels)
    base = n_channels + 1
    if base**order >= 2**62:
        raise ConfigurationError(
            f"order {order} over {n_channels:,} channels has too many possible states to "
            "index. Fix: lower order= or group rare channels together."
        )
    offsets = journeys.offsets
    # Keys are made and collapsed in the narrowest integers that hold them: fewer bytes
    # to move, and no touch-sized array is widened to int64 until the steps' edges.
    narrow = _state_keys(journeys.codes, offsets, order, base)
    if collapse:
        repeat = narrow[1:] == narrow[:-1]
        repeat[offsets[1:-1] - 1] = False  # a record's first touch repeats nothing
        dropped = np.flatnonzero(repeat) + 1
        del repeat
        if len(dropped):
            narrow = np.delete(narrow, dropped)
            # Each record shrinks by its dropped touches (counted per record, not per touch).
            owner = np.searchsorted(offsets, dropped, side="right") - 1
            shrink = np.bincount(owner, minlength=len(offsets) - 1).cumsum()
            offsets = offsets - np.concatenate([[0], shrink])
    if (base**order + 1) * base <= _KEYED_EDGES:
        edges = _edges_by_key(narrow, offsets, order, base)
    else:
        edges = _edges_by_state(narrow, offsets, order, base)
    state_keys, edge_from, edge_to, touch_edge, last_state = edges
    place = base ** np.arange(order - 1, -1, -1, dtype=np.int64)  # lag 0 is the top digit
    state_channels = np.vstack(
        [(state_keys[:, None] // place) % base - 1, np.full((1, order), -1, dtype=np.int64)]
    )
    return ChainStructure(
        order=order,
        n_states=len(state_keys) + 1,
        state_channels=state_channels,
        edge_from=edge_from,
        edge_to=edge_to,
        offsets=offsets,
        touch_edge=touch_edge,
        last_state=last_state,
    )


def _edges_by_key(
    keys: np.ndarray, offsets: np.ndarray, order: int, base: int
) -> tuple[np.ndarray, ...]:
    """States, edges and each step's edge, from the steps' state ``keys`` (tiny key spaces).

    A step's edge is keyed by its from-state's key (the previous step's, or a key above
    every state's for ``(start)``) and the channel entered, so ordering edge keys orders
    edges by (from state, channel) without numbering the states of every step first.
    Returns the state keys, edge_from, edge_to, the steps' edges and each record's last
    state, as `_edges_by_state` does.
    """
    start = base**order  # the key of (start): above every state's
    dtype = _narrowest((start + 1) * base)
    edge = np.empty(len(keys), dtype=dtype)
    edge[1:] = keys[:-1]
    edge[offsets[:-1]] = start
    edge *= base
    edge += np.floor_divide(keys, base ** (order - 1), dtype=dtype)  # the channel entered
    edge_keys, touch_edge = _index(edge, (start + 1) * base)
    from_key, entered = np.divmod(edge_keys, base)
    # The to-state: the channel entered, then the from-state's history one channel shorter.
    to_key = entered * base ** (order - 1) + np.where(from_key == start, 0, from_key // base)
    state_keys = np.unique(to_key)  # every step's state is the to-state of its edge
    edge_to = np.searchsorted(state_keys, to_key)
    return (
        state_keys,
        np.searchsorted(state_keys, from_key),  # (start) goes last
        edge_to,
        touch_edge,
        edge_to[touch_edge[offsets[1:] - 1]],
    )


def _edges_by_state(
    keys: np.ndarray, offsets: np.ndarray, order: int, base: int
) -> tuple[np.ndarray, ...]:
    """`_edges_by_key` for large key spaces: steps' states are numbered first, then edges."""
    latest = np.floor_divide(keys, base ** (order - 1), dtype=np.int64)  # channel entered
    key = keys.astype(np.int64)
    del keys
    state_keys, state = _index(key, base**order, in_place=True)
    del key  # `state` may be its buffer
    start = len(state_keys)
    last_state = state[offsets[1:] - 1]
    # An edge is its from-state and the channel entered (the to-state's latest digit): the
    # to-state is that channel followed by the from-state's history, one channel shorter.
    # A step's from-state is the previous touch's state, or (start) at a record's start.
    record_start = offsets[:-1]
    entered_first = latest[record_start]
    edge_key = latest
    state *= base
    edge_key[1:] += state[:-1]
    edge_key[record_start] = start * base + entered_first
    del state
    edge_keys, touch_edge = _index(edge_key, (start + 1) * base, in_place=True)
    edge_from, edge_entered = np.divmod(edge_keys, base)
    history = np.append(state_keys, 0)[edge_from] // base  # (start) has no history
    edge_to = np.searchsorted(state_keys, edge_entered * base ** (order - 1) + history)
    return state_keys, edge_from, edge_to, touch_edge, last_state


def _narrowest(space: int) -> type[np.signedinteger]:
    """The first of int16, int32 and int64 whose maximum reaches ``space``."""
    return next(t for t in (np.int16, np.int32, np.int64) if space <= np.iinfo(t).max)


def _state_keys(codes: np.ndarray, offsets: np.ndarray, order: int, base: int) -> np.ndarray:
    """Every touch's state as an integer key.

    A state is the last ``order`` channels, written as base-``base`` digits (channel
    code + 1) with the latest channel most significant; digit 0 pads tuples shorter
    than ``order`` at the start of a record. Keys come in the narrowest signed integer
    type that holds every key below ``base ** order``.
    """
    digit = np.add(codes, 1, dtype=_narrowest(base**order))  # channel code + 1
    if order == 1:
        return digit
    key = digit.copy()
    starts, lengths = offsets[:-1], np.diff(offsets)
    for lag in range(1, order):
        key *= base
        # Add the channel `lag` touches back, in place: no shifted copy.
        key[lag:] += digit[:-lag]
        for position in range(lag):  # the first `lag` touches have no channel that far back
            first = starts[lengths > position] + position
            first = first[first >= lag]
            key[first] -= digit[first - lag]
    return key


def _index(key: np.ndarray, space: int, *, in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys in increasing order (int64), and each key's position among them.

    Keys below a small ``space`` are indexed by a lookup table (two linear passes);
    larger spaces are hashed, and only the distinct keys sorted. With ``in_place``, the
    positions overwrite ``key`` where the table allows; narrower keys (never overwritten)
    get int32 positions from the table.
    """
    if space <= DIRECT_KEYS:
        seen = np.zeros(space, dtype=bool)
        seen[key] = True
        distinct = np.flatnonzero(seen)
        if key.dtype == np.int64:
            lookup = np.empty(space, dtype=np.int64)
            lookup[distinct] = np.arange(len(distinct))
            # mode="clip" (keys are in range anyway) lets the output alias the keys unbuffered.
            return distinct, lookup.take(key, out=key if in_place else None, mode="clip")
        # numpy copies narrow indices to int64 before a gather: chunk by chunk, that copy
        # reuses one small buffer instead of taking fresh pages for every key (5M paths,
        # 10 channels, order 3, fresh processes: peak 657 -> 567 MB, 0.48 -> 0.36 s).
        lookup = np.empty(space, dtype=np.int32)
        lookup[distinct] = np.arange(len(distinct), dtype=np.int32)
        positions = np.empty(len(key), dtype=np.int32)
        for lo in range(0, len(key), _GATHER_CHUNK):
            chunk = slice(lo, lo + _GATHER_CHUNK)
            lookup.take(key[chunk], out=positions[chunk], mode="clip")
        return distinct, positions
    codes, uniques = pd.factorize(key)
    order = np.argsort(uniques)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return uniques[order].astype(np.int64), rank.take(codes)
