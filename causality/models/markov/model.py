"""The ``markov`` model: removal effects of an order-k Markov chain, computed exactly."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.journeys import Journeys
from causality.models.base import AttributionModel, PoissonSampler
from causality.models.markov.chain import (
    conversion_probabilities,
    transition_probabilities,
)
from causality.models.markov.states import (
    CONVERSION,
    NULL,
    ChainStructure,
    chain_structure,
)

MAX_ORDER = 4


@dataclasses.dataclass(frozen=True, kw_only=True)
class Markov(AttributionModel):
    """Markov chain attribution by removal effect, solved exactly.

    Journeys are paths through states: ``(start)``, the last ``order`` channels
    touched, then ``(conversion)`` or ``(null)``. Transition probabilities are the
    observed frequencies. The removal effect of a channel is the share of
    conversions lost when every state containing it leads to ``(null)``::

        RE_c = 1 - P(conversion | c removed) / P(conversion)

    Both probabilities are absorption probabilities of the chain, computed with
    sparse linear algebra (no path simulation, so no simulation noise).

    Parameters
    ----------
    order : int, default 1
        Memory of the chain, 1 to 4: a state is the last ``order`` channels.
    collapse_repeats : bool, default True
        Merge consecutive repeated states, as ChannelAttribution does: at order 1,
        ``A > A > B`` moves A -> B; at order 2 it visits (A), (A, A), (A, B), and only
        a repeated pair (``A > A > A``) merges. Otherwise a repeat is a
        self-transition. Removal effects are the same either way (a self-loop only
        delays absorption); the transition matrix differs.
    allocation : {"total", "journey"}, default "total"
        ``"total"``: channel credit = total conversions x RE_c / sum of RE (the
        standard rule). ``"journey"``: each converting journey splits its own
        conversion among the channels it touched in proportion to their removal
        effects, so a channel is credited only where it appears.
    ci_level, n_bootstrap, seed
        As for every model. Bootstrap replicates resample journeys; their chains
        reuse the observed chain's factorisation, so they stay exact and cheap.

    Notes
    -----
    Value credit uses the same removal effects: value x RE_c / sum of RE (or per
    journey). A channel seen only on non-converting paths has RE 0. The result's
    ``extras`` hold ``removal_effects`` (per channel: the raw effect and its
    normalised share) and ``transition_matrix`` (tidy: from, to, probability,
    count).

    Examples
    --------
    >>> import causality as ca
    >>> table = pd.DataFrame({"path": ["A > B", "B", "A"], "conversions": [2, 1, 0],
    ...                       "nulls": [1, 2, 3]})
    >>> result = ca.attribute(table, "markov", n_bootstrap=0)
    >>> result.table["conversions"].round(3).to_dict()
    {'A': 1.0, 'B': 2.0}
    """

    name = "markov"
    description = "Markov chain removal effects of order 1-4, solved exactly (no simulation)."
    uses_nulls = True

    @property
    def parallel_replicates(self) -> bool:  # type: ignore[override]
        """Replicates in threads for order 1 only.

        Higher orders spend their replicates in batched iterative solves that take turns
        on the GIL, and ran slower in two threads than in one (1M paths, 200 replicates,
        2 CPUs: order 2 1.0-1.7 s vs 0.9-1.3 s, order 3 8.6 s vs 7.4 s; order 1 at 5M
        paths 2.2 s vs 2.4 s).
        """
        return self.order == 1

    order: int = 1
    collapse_repeats: bool = True
    allocation: Literal["total", "journey"] = "total"

    def _validate(self) -> None:
        if isinstance(self.order, bool) or not isinstance(self.order, int | np.integer):
            raise ConfigurationError(
                f"order must be an integer 1 to {MAX_ORDER}; got {self.order!r}"
            )
        if not 1 <= self.order <= MAX_ORDER:
            raise ConfigurationError(f"order must be 1 to {MAX_ORDER}; got {self.order!r}")
        if not isinstance(self.collapse_repeats, bool):
            raise ConfigurationError(
                f"collapse_repeats must be True or False; got {self.collapse_repeats!r}"
            )
        if self.allocation not in ("total", "journey"):
            raise ConfigurationError(
                f"allocation must be 'total' or 'journey'; got {self.allocation!r}"
            )

    def _prepare(self, journeys: Journeys) -> Journeys:
        # Merging identical paths pays off across bootstrap replicates of event-log journeys
        # (one record per journey). A path table is aggregated already, and one estimate
        # reads every touch once either way: both skip the grouping pass. A repeated record
        # changes nothing: counts add up, and two Poisson(n) weights sum to a Poisson(2n).
        if self.n_bootstrap > 0 and journeys.has_timestamps:
            return journeys.by_path()
        return journeys

    # -- the chain -----------------------------------------------------------------
    def _structure(self, data: Journeys) -> ChainStructure:
        return data.cached(
            ("markov_structure", self.order, self.collapse_repeats),
            lambda: chain_structure(data, self.order, collapse=self.collapse_repeats),
        )

    def _removals(self, data: Journeys) -> np.ndarray:
        """Row 0 removes nothing; row 1 + c removes every state holding channel c."""
        structure = self._structure(data)
        contains = structure.contains(len(data.channels))
        return np.vstack([np.zeros((1, structure.n_states), dtype=bool), contains])

    def _observed_counts(self, data: Journeys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Transition counts of the observed data (edges, to conversion, to null), once."""
        return data.cached(
            ("markov_counts", self.order, self.collapse_repeats),
            lambda: self._structure(data).transition_counts(
                data.conversions[None], data.nulls[None]
            ),
        )

    def _observed_edge_prob(self, data: Journeys) -> np.ndarray:
        edge_prob, _ = transition_probabilities(self._structure(data), *self._observed_counts(data))
        return edge_prob[0]

    def _probabilities(self, data, conversions, nulls, converting=None):
        if converting is None and _is_observed(data, conversions, nulls):
            counts = self._observed_counts(data)
        else:
            counts = self._structure(data).transition_counts(conversions, nulls, converting)
        return transition_probabilities(self._structure(data), *counts)

    def removal_effects(
        self, data: Journeys, conversions: np.ndarray, nulls: np.ndarray
    ) -> np.ndarray:
        """Removal effect per replicate and channel, shape (n_batch, n_channels)."""
        return self._effects(data, conversions, nulls)

    def _effects(self, data, conversions, nulls, converting=None) -> np.ndarray:
        edge_prob, conv_prob = self._probabilities(data, conversions, nulls, converting)
        probs = conversion_probabilities(
            self._structure(data),
            edge_prob,
            conv_prob,
            self._removals(data),
            self._observed_edge_prob(data),
        )
        base = probs[:, :1]
        ratio = np.divide(probs[:, 1:], base, out=np.ones_like(probs[:, 1:]), where=base > 0)
        # Redirecting states to (null) can only lose conversions; clip round-off.
        return np.clip(1.0 - ratio, 0.0, 1.0)

    def _observed_effects(self, data: Journeys) -> np.ndarray:
        """Removal effects of the observed data, shape (1, n_channels), computed once."""
        return data.cached(
            ("markov_effects", self.order, self.collapse_repeats),
            lambda: self.removal_effects(data, data.conversions[None], data.nulls[None]),
        )

    # Each batch streams the whole incidence matrix once (`ChainStructure.
    # transition_counts`): measured on 1.5M paths, batches of 10 replicates took 12%
    # less time than batches of 5; 20 saved ~2% more for twice the memory.
    bootstrap_batch_scale = 2

    def _replicate_dtype(self, data: Journeys) -> type[np.floating]:
        # Total allocation reads counts only through sums, which stay exact in float32
        # products (`ChainStructure.transition_counts`); per-journey allocation divides.
        largest = max(data.conversions.max(initial=0.0), data.nulls.max(initial=0.0))
        if self.allocation == "total" and largest <= PoissonSampler.FLOAT32_MAX_RATE:
            return np.float32
        return np.float64

    def _credit_replicates(self, data, conversions, value_per_conversion, nulls):
        if self.allocation != "total":
            return super()._credit_replicates(data, conversions, value_per_conversion, nulls)
        converting = _converting(data)
        share = _shares(self._effects(data, conversions, nulls, converting))
        # Totals in float64 from the converting records alone: no (n_batch, n_records)
        # value array, and whole-number sums stay exact.
        # The draws cover the converting records only (`_replicate_conversion_records`);
        # summed in float64 through einsum's small buffers, not a batch-sized copy.
        totals = np.einsum("bc->b", conversions, dtype=np.float64, casting="safe")
        value = np.einsum(
            "bc,c->b",
            conversions,
            value_per_conversion[converting],
            dtype=np.float64,
            casting="safe",
        )
        return totals[:, None] * share, value[:, None] * share

    def _replicate_conversion_records(self, data: Journeys) -> np.ndarray | None:
        # A Poisson resample of a zero count is zero: the total allocation reads replicate
        # conversions only where conversions were observed.
        return _converting(data) if self.allocation == "total" else None

    def _credit(self, data, conversions, value, nulls):
        if _is_observed(data, conversions, nulls):
            effects = self._observed_effects(data)
        else:  # bootstrap replicates
            effects = self._effects(data, conversions, nulls, _converting(data))
        if self.allocation == "total":
            share = _shares(effects)
            return conversions.sum(1)[:, None] * share, value.sum(1)[:, None] * share
        presence = data.cached("channel_presence", lambda: _presence(data))
        per_record = effects @ presence.T  # (n_batch, n_records): sum of RE on each path
        conv_scale = np.divide(
            conversions, per_record, out=np.zeros_like(conversions), where=per_record > 0
        )
        value_scale = np.divide(value, per_record, out=np.zeros_like(value), where=per_record > 0)
        return (conv_scale @ presence) * effects, (value_scale @ presence) * effects

    # -- what the result shows -------------------------------------------------------
    def _extras(self, data: Journeys) -> dict:
        effects = self._observed_effects(data)[0]
        total = effects.sum()
        removal = pd.DataFrame(
            {"removal_effect": effects, "share": effects / total if total > 0 else effects},
            index=pd.Index(data.channels, name="channel"),
        )
        return {
            "removal_effects": removal,
            "transition_matrix": self._transition_frame(data),
            "n_states": self._structure(data).n_states,
        }

    def _transition_frame(self, data: Journeys) -> pd.DataFrame:
        structure = self._structure(data)
        edges, to_conv, to_null = self._observed_counts(data)
        edge_prob, conv_prob = transition_probabilities(structure, edges, to_conv, to_null)
        null_prob = np.divide(
            to_null,
            to_conv + to_null + edges @ structure.from_incidence,
            out=np.zeros_like(to_null),
            where=(to_conv + to_null) > 0,
        )
        labels = np.asarray(structure.labels(data.channels), dtype=object)
        states = np.arange(structure.n_states)
        frame = pd.concat(
            [
                pd.DataFrame(
                    {
                        "from": labels[structure.edge_from],
                        "to": labels[structure.edge_to],
                        "probability": edge_prob[0],
                        "count": edges[0],
                    }
                ),
                pd.DataFrame(
                    {
                        "from": labels,
                        "to": CONVERSION,
                        "probability": conv_prob[0],
                        "count": to_conv[0],
                    }
                ),
                pd.DataFrame(
                    {
                        "from": labels[states],
                        "to": NULL,
                        "probability": null_prob[0],
                        "count": to_null[0],
                    }
                ),
            ],
            ignore_index=True,
        )
        return frame[frame["count"] > 0].sort_values(["from", "to"], ignore_index=True)

    def transition_matrix(self, journeys: Journeys | pd.DataFrame) -> pd.DataFrame:
        """The fitted transition probabilities as a tidy frame: from, to, probability, count.

        Examples
        --------
        >>> import causality as ca
        >>> table = pd.DataFrame({"path": ["A > B"], "conversions": [1], "nulls": [1]})
        >>> ca.models.Markov().transition_matrix(table)[["from", "to", "probability"]]
              from            to  probability
        0  (start)             A          1.0
        1        A             B          1.0
        2        B  (conversion)          0.5
        3        B        (null)          0.5
        """
        from causality.models.base import as_journeys

        return self._transition_frame(self._prepare(as_journeys(journeys)))


def _converting(data: Journeys) -> np.ndarray:
    """Records with observed conversions: a Poisson resample of a zero count is zero."""
    return data.cached("converting", lambda: np.flatnonzero(data.conversions > 0))


def _shares(effects: np.ndarray) -> np.ndarray:
    """Each replicate's removal effects as shares of their sum (0 where all are 0)."""
    total = effects.sum(axis=1, keepdims=True)
    return np.divide(effects, total, out=np.zeros_like(effects), where=total > 0)


def _is_observed(data: Journeys, conversions: np.ndarray, nulls: np.ndarray) -> bool:
    """Whether a batch is the observed data itself (one row), not resampled counts."""
    return (
        conversions.shape[0] == 1
        and np.array_equal(conversions[0], data.conversions)
        and np.array_equal(nulls[0], data.nulls)
    )


def _presence(data: Journeys):
    import scipy.sparse as sp

    presence = sp.csr_array(
        (np.ones(data.n_touches), (data.record_of_touch(), data.codes)),
        shape=(data.n_records, len(data.channels)),
    )
    presence.data[:] = 1.0  # several touches of one channel count once
    return presence
