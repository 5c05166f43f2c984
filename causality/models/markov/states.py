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

from causality.errors import ConfigurationError
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
    touch_record, touch_edge : ndarray of int
        For every step of every record (repeats collapsed): the record and the
        transition it takes.
    last_state : ndarray of int
        Each record's last transient state, from which it converts or ends.
    """

    order: int
    n_states: int
    state_channels: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    touch_record: np.ndarray
    touch_edge: np.ndarray
    last_state: np.ndarray

    @functools.cached_property
    def internal(self) -> sp.csr_array:
        """Sparse (n_records, n_edges): how often each record takes each transition.

        Every journey of the record takes them, converting or not. Built only for
        batches of replicates; one estimate needs a weighted count, not the matrix.
        """
        internal = sp.csr_array(
            (np.ones(len(self.touch_edge)), (self.touch_record, self.touch_edge)),
            shape=(len(self.last_state), len(self.edge_from)),
        )
        internal.sum_duplicates()
        return internal

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
        if len(journeys) == 1:
            weights = journeys[0][self.touch_record]
            edges = np.bincount(self.touch_edge, weights, minlength=len(self.edge_from))[None]
            return (
                edges,
                np.bincount(self.last_state, conversions[0], minlength=self.n_states)[None],
                np.bincount(self.last_state, nulls[0], minlength=self.n_states)[None],
            )
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
    base = n_channels + 1
    if base**order >= 2**62:
        raise ConfigurationError(
            f"order {order} over {n_channels:,} channels has too many possible states to "
            "index. Fix: lower order= or group rare channels together."
        )
    # A state is the last `order` channels, written as base-(n_channels + 1) digits with the
    # latest channel most significant; digit 0 pads tuples shorter than `order`.
    key = codes + 1
    if order > 1:
        position = journeys.position_of_touch()
        for lag in range(1, order):
            digit = np.zeros(len(codes), dtype=np.int64)
            digit[lag:] = codes[: len(codes) - lag] + 1
            digit[position < lag] = 0
            key = key * base + digit
    record = journeys.record_of_touch()
    if collapse:
        repeat = np.zeros(len(key), dtype=bool)
        repeat[1:] = (key[1:] == key[:-1]) & (record[1:] == record[:-1])
        key, record = key[~repeat], record[~repeat]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(record, minlength=journeys.n_records))])
    state, state_rows = _factorize_with_row(key)
    n_states = len(state_rows) + 1
    start = n_states - 1
    place = base ** np.arange(order - 1, -1, -1, dtype=np.int64)  # lag 0 is the top digit
    state_channels = np.vstack(
        [(key[state_rows, None] // place) % base - 1, np.full((1, order), -1, dtype=np.int64)]
    )

    from_state = np.empty(len(key), dtype=np.int64)
    from_state[1:] = state[:-1]
    from_state[offsets[:-1]] = start
    edge_id, edge_rows = _factorize_with_row(from_state * n_states + state)
    return ChainStructure(
        order=order,
        n_states=n_states,
        state_channels=state_channels,
        edge_from=from_state[edge_rows],
        edge_to=state[edge_rows],
        touch_record=record,
        touch_edge=edge_id,
        last_state=state[offsets[1:] - 1],
    )


def _factorize_with_row(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``key`` in order of first appearance, and one row holding each key."""
    codes, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    # Any occurrence represents its key equally well (the key encodes everything read from
    # that row), so a plain scatter will do, whichever duplicate write wins.
    first[codes] = np.arange(len(key))
    return codes.astype(np.int64), first
