"""What a Shapley fit computes once per data set and reuses for every bootstrap batch."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from causality.errors import ConfigurationError, EstimationError
from causality.journeys import Journeys
from causality.models.shapley.coalitions import Coalitions, coalitions_of
from causality.models.shapley.exact import SubsetGame, dense_game_shapley
from causality.models.shapley.sampled import PermutationOperator, sampled_game_shapley
from causality.models.shapley.values import (
    ValueFunction,
    all_masks,
    callable_game,
    coalition_rate,
    describe_value,
)

#: Most channels a custom value function is solved exactly for (2^n calls of it).
EXACT_CUSTOM_LIMIT = 25


@dataclasses.dataclass(frozen=True, eq=False)
class RatePlan:
    """The coalition_rate game: coalitions with conversions, exact pairs, sampled operator.

    ``family`` holds the coalitions with conversions (only they can have a
    positive rate, in the data and in every bootstrap replicate) and ``record``
    the family position of each record (``len(family)`` for a record outside it;
    the model's ``_prepare`` drops those), ``merged`` whether records and family
    coincide (one record per coalition); ``exact`` and ``sampled`` split the
    family's positions between the two estimators.
    """

    coalitions: Coalitions
    family: np.ndarray
    record: np.ndarray
    merged: bool
    exact_index: np.ndarray
    exact: SubsetGame | None
    sampled: PermutationOperator | None

    @classmethod
    def build(
        cls, data: Journeys, *, method: str, limit: int, n_permutations: int, seed: int | None
    ) -> RatePlan:
        """Split the coalitions between the exact and the sampled estimator and prepare both."""
        coalitions = coalitions_of(data)
        n = coalitions.n_coalitions
        conversions = np.bincount(coalitions.record, data.conversions, n)
        journeys = conversions + np.bincount(coalitions.record, data.nulls, n)
        family = np.flatnonzero(conversions > 0)
        offsets, members = select(coalitions.offsets, coalitions.members, family)
        sizes = np.diff(offsets)
        if method == "auto":  # the design's limit on distinct channels inside one coalition
            is_exact = sizes <= limit
        else:
            is_exact = np.full(len(family), method == "exact")
        exact_index = np.flatnonzero(is_exact)
        exact = None
        if len(exact_index):
            # Subsets (in the family) of a coalition within the limit are within it too.
            sub_offsets, sub_members = select(offsets, members, exact_index)
            exact = SubsetGame.build(sub_offsets, sub_members, coalitions.n_channels)
        in_family = np.full(n, -1, dtype=np.int64)
        in_family[family] = np.arange(len(family))
        sampled = None
        if not is_exact.all():

            def lookup(masks: np.ndarray) -> np.ndarray:
                found = coalitions.lookup(masks)
                return np.where(found >= 0, in_family[found], -1)

            sampled = PermutationOperator.build(
                np.flatnonzero(~is_exact),
                offsets,
                members,
                lookup,
                coalition_rate(conversions[family], journeys[family]),
                n_channels=coalitions.n_channels,
                n_permutations=n_permutations,
                rng=permutation_rng(seed),
            )
        # Records outside the family (none after the model's _prepare) go to a spare bin.
        record = np.where(in_family >= 0, in_family, len(family))[coalitions.record]
        return cls(
            coalitions=coalitions,
            family=family,
            record=record,
            merged=bool(np.array_equal(record, np.arange(len(family)))),
            exact_index=exact_index,
            exact=exact,
            sampled=sampled,
        )

    def scales(
        self, conversions: np.ndarray, value: np.ndarray, nulls: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-coalition game values and the multipliers that rescale credit to totals.

        Takes (n_batch, n_records) counts and returns (n_family, n_batch) columns. A
        coalition's Shapley values sum to its rate ``c / n``; multiplying by ``n``
        (conversions + nulls) makes them sum to its conversions ``c``, and by
        ``n * value / c`` to its value. Coalitions without conversions get none.
        """
        width, n = len(conversions), len(self.family)
        if self.merged:
            # One record per coalition (the model merges them): a transpose suffices.
            conv, null, worth = (np.ascontiguousarray(x.T) for x in (conversions, nulls, value))
        else:
            # The product of the counts with the records x coalitions incidence matrix (one
            # 1 per record): a bincount per replicate, written straight into coalition-major
            # columns (cheaper than transposing the batch for a sparse product).
            stacked = np.empty((n, 3 * width))
            for k, rows in enumerate((conversions, nulls, value)):
                for i, row in enumerate(rows):
                    stacked[:, k * width + i] = np.bincount(self.record, row, minlength=n + 1)[:n]
            conv, null, worth = np.split(stacked, 3, axis=1)
        journeys = conv + null
        rate = coalition_rate(conv, journeys)
        scale = np.where(conv > 0, journeys, 0.0)
        value_scale = np.divide(worth * journeys, conv, out=np.zeros_like(rate), where=conv > 0)
        return rate, scale, value_scale

    def credit(
        self, conversions: np.ndarray, value: np.ndarray, nulls: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Channel credit, shape (n_batch, n_channels), for a batch of resampled counts."""
        rate, scale, value_scale = self.scales(conversions, value, nulls)
        n_channels = self.coalitions.n_channels
        conv_credit = np.zeros((n_channels, rate.shape[1]))
        value_credit = np.zeros((n_channels, rate.shape[1]))
        if self.exact is not None:
            part = slice(None) if self.sampled is None else self.exact_index  # no copy if all
            c, v = self.exact.credit(rate[part], [scale[part], value_scale[part]])
            conv_credit += c
            value_credit += v
        if self.sampled is not None:
            c, v = self.sampled.credit(rate, [scale, value_scale], n_channels)
            conv_credit += c
            value_credit += v
        return conv_credit.T, value_credit.T

    def cells(self, data: Journeys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (family coalition, channel) with its share of the coalition's conversions."""
        rate, _, _ = self.scales(data.conversions[None], data.value[None], data.nulls[None])
        rate = rate[:, 0]
        parts = []
        if self.exact is not None:
            phi = self.exact.per_coalition(rate[self.exact_index]).tocoo()
            coalition = self.exact_index[phi.row]
            parts.append((coalition, phi.col, phi.data / rate[coalition]))
        if self.sampled is not None:
            phi = self.sampled.operator @ rate
            coalition = self.sampled.cell_coalition
            parts.append((coalition, self.sampled.cell_channel, phi / rate[coalition]))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))

    def standard_errors(self, data: Journeys) -> tuple[np.ndarray, np.ndarray]:
        """Monte Carlo standard errors of channel credit (zero when all is exact)."""
        n_channels = self.coalitions.n_channels
        if self.sampled is None:
            return np.zeros(n_channels), np.zeros(n_channels)
        _, scale, value_scale = self.scales(
            data.conversions[None], data.value[None], data.nulls[None]
        )
        return (
            self.sampled.channel_standard_errors(scale[:, 0], n_channels),
            self.sampled.channel_standard_errors(value_scale[:, 0], n_channels),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class CustomPlan:
    """A custom game over all channels: each channel's share of the total, fixed."""

    shares: np.ndarray
    standard_errors: np.ndarray
    exact: bool

    @classmethod
    def build(
        cls,
        value: ValueFunction,
        channels: tuple[str, ...],
        *,
        method: str,
        limit: int,
        n_permutations: int,
        seed: int | None,
    ) -> CustomPlan:
        """Solve the game exactly (2^n calls) or by permutations, then normalise it."""
        n = len(channels)
        exact = method == "exact" or (method == "auto" and n <= limit)
        if exact and n > EXACT_CUSTOM_LIMIT:
            raise ConfigurationError(
                f"method='exact' with a custom value function calls it on all 2^{n} sets of "
                f"the {n} channels; the limit is {EXACT_CUSTOM_LIMIT} channels. Fix: "
                "method='auto' or method='sampled' (with n_permutations=...)."
            )
        game = callable_game(value, channels)
        if exact:
            worth = game(all_masks(n))
            phi, error = dense_game_shapley(worth, n), np.zeros(n)
            total = worth[-1] - worth[0]
        else:
            phi, error = sampled_game_shapley(
                game, n, n_permutations=n_permutations, rng=permutation_rng(seed)
            )
            total = float(phi.sum())  # each permutation's gains sum to v(all) - v(empty)
        if not np.isfinite(total) or abs(total) <= 1e-12 * max(1.0, np.abs(phi).max()):
            raise EstimationError(
                f"the value function {describe_value(value)} gives all channels together the "
                "worth of none (v(all) - v(empty) = 0), so credit cannot be scaled to total "
                "conversions. Fix: a value function whose grand coalition is worth more."
            )
        return cls(shares=phi / total, standard_errors=error / abs(total), exact=exact)


def converting_records(data: Journeys, *, merge: bool) -> Journeys:
    """The records whose coalition (channel set) converts, merged by coalition if ``merge``.

    Shapley credit depends on a journey only through its coalition, and a record
    whose coalition never converts earns nothing and moves no rate that matters.
    Merging records of one coalition keeps the Poisson bootstrap exact (a sum of
    independent Poisson counts is Poisson) while it resamples far fewer records;
    value then moves at the coalition's mean value per conversion.
    """
    coalitions = coalitions_of(data)
    n = coalitions.n_coalitions
    conversions = np.bincount(coalitions.record, data.conversions, n)
    keep = conversions > 0
    if not merge:
        return data if keep.all() else data.take(keep[coalitions.record])
    offsets, members = select(coalitions.offsets, coalitions.members, np.flatnonzero(keep))
    return Journeys(
        channels=data.channels,
        codes=members,
        offsets=offsets,
        conversions=conversions[keep],
        value=np.bincount(coalitions.record, data.value, n)[keep],
        nulls=np.bincount(coalitions.record, data.nulls, n)[keep],
        unattributed_conversions=data.unattributed_conversions,
        unattributed_value=data.unattributed_value,
        window=data.window,
        lookback=data.lookback,
    )


def select(
    offsets: np.ndarray, members: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The member lists (CSR) of the coalitions ``index`` only."""
    sizes = np.diff(offsets)[index]
    new_offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    within = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], sizes)
    return new_offsets, members[np.repeat(offsets[index], sizes) + within]


def equal_split(data: Journeys) -> sp.csr_array:
    """Records x channels: ``1/|S|`` for each distinct channel of a record's coalition.

    The Shapley value of ``subset_conversions`` in closed form (Zhao et al. 2018).
    """
    record = data.record_of_touch()
    n_channels = len(data.channels)
    cells = np.unique(record * n_channels + data.codes)  # distinct (record, channel)
    rows, cols = cells // n_channels, cells % n_channels
    share = 1.0 / np.bincount(rows, minlength=data.n_records)[rows]
    return sp.csr_array((share, (rows, cols)), shape=(data.n_records, n_channels))


def permutation_rng(seed: int | None) -> np.random.Generator:
    """The generator of the permutation sampler: its own stream, apart from the bootstrap's."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
