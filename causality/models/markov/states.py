"""Markov chain states of order k, and the record-by-transition incidence of a path table.

States are k-tuples of channels (shorter at the start of a path), plus the
``(start)``, ``(conversion)`` and ``(null)`` states. Everything here is built with
array operations over all touches at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from causality.journeys import Journeys

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


@dataclass(frozen=True)
class ChainStructure:
    """The transient states of an order-k chain and how each record moves through them.

    Attributes
    ----------
    n_states : int
        Transient states; the last one is ``(start)``.
    state_channels : ndarray of int, shape (n_states, order)
        Channel codes of each state's tuple, -1 where the tuple is shorter.
    edge_from, edge_to : ndarray of int
        Transitions between transient states.
    internal : sparse matrix, shape (n_records, n_edges)
        How often each record takes each transition; it is taken by every journey of
        the record, converting or not.
    last_state : ndarray of int
        Each record's last transient state, from which it converts or ends.
    """

    order: int
    n_states: int
    state_channels: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    internal: sp.csr_array
    last_state: np.ndarray

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
        names = np.asarray(channels, dtype=object)
        out = []
        for row in self.state_channels[:-1, ::-1]:  # columns are lags: 0 is the latest
            out.append(", ".join(names[c] for c in row[row >= 0]))
        return [*out, START]

    def transition_counts(
        self, conversions: np.ndarray, nulls: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counts per transition for a batch of resampled records.

        Parameters
        ----------
        conversions, nulls : ndarray, shape (n_batch, n_records)

        Returns
        -------
        edges : (n_batch, n_edges) counts between transient states
        to_conversion, to_null : (n_batch, n_states) counts of ending each way
        """
        journeys = conversions + nulls
        edges = journeys @ self.internal
        ends = sp.csr_array(
            (np.ones(len(self.last_state)), (np.arange(len(self.last_state)), self.last_state)),
            shape=(len(self.last_state), self.n_states),
        )
        return np.asarray(edges), np.asarray(conversions @ ends), np.asarray(nulls @ ends)


def chain_structure(journeys: Journeys, order: int, *, collapse: bool = True) -> ChainStructure:
    """Build the order-``order`` chain structure of ``journeys`` (records with touches).

    With ``collapse``, a state repeated at consecutive touches is visited once (no
    self-transitions), as ChannelAttribution does; absorption probabilities, and so
    removal effects, are the same either way.
    """
    n_channels = len(journeys.channels)
    codes = journeys.codes.astype(np.int64)
    position = journeys.position_of_touch()
    # A state is the last `order` channels; code+1 so that 0 pads shorter tuples.
    lagged = np.full((len(codes), order), -1, dtype=np.int64)
    key = np.zeros(len(codes), dtype=np.int64)
    for lag in range(order):
        shifted = np.full(len(codes), -1, dtype=np.int64)
        shifted[lag:] = codes[: len(codes) - lag]
        shifted[position < lag] = -1
        lagged[:, lag] = shifted
        key = key * (n_channels + 1) + (shifted + 1)
    record = journeys.record_of_touch()
    if collapse:
        repeat = np.zeros(len(key), dtype=bool)
        repeat[1:] = (key[1:] == key[:-1]) & (record[1:] == record[:-1])
        key, lagged, record = key[~repeat], lagged[~repeat], record[~repeat]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(record, minlength=journeys.n_records))])
    state, first_rows = _factorize_with_first(key)
    n_states = len(first_rows) + 1
    start = n_states - 1
    state_channels = np.vstack([lagged[first_rows], np.full((1, order), -1, dtype=np.int64)])

    from_state = np.empty(len(key), dtype=np.int64)
    from_state[1:] = state[:-1]
    from_state[offsets[:-1]] = start
    edge_id, edge_rows = _factorize_with_first(from_state * n_states + state)
    internal = sp.csr_array(
        (np.ones(len(key)), (record, edge_id)), shape=(journeys.n_records, len(edge_rows))
    )
    internal.sum_duplicates()
    return ChainStructure(
        order=order,
        n_states=n_states,
        state_channels=state_channels,
        edge_from=from_state[edge_rows],
        edge_to=state[edge_rows],
        internal=internal,
        last_state=state[offsets[1:] - 1],
    )


def _factorize_with_first(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``key`` in order of first appearance, and the row of each first appearance."""
    codes, uniques = pd.factorize(key)
    first = np.full(len(uniques), len(key), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(key)))
    return codes.astype(np.int64), first
