"""Rule-based attribution: last click and the other heuristics practitioners compare against.

Each heuristic splits every converting journey's conversion (and value) among its
touches by a fixed rule. A rule is a sparse records x channels matrix of credit
fractions whose rows sum to 1, so one sparse product credits every bootstrap
replicate at once.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from causality._validation import to_timedelta
from causality.errors import ConfigurationError, DataWarning
from causality.journeys import Journeys
from causality.models.base import AttributionModel

#: Records x channels up to which credit fractions are held as a dense matrix.
DENSE_FRACTIONS_LIMIT = 20_000_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeuristicModel(AttributionModel):
    """A model whose credit is a fixed split of each journey among its touches."""

    parallel_replicates = True

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        """Credit weight of every touch; rows are normalised to sum to 1 per record."""
        raise ConfigurationError(f"{type(self).__name__} defines no touch weights")

    def fractions(self, data: Journeys) -> sp.csr_array:
        """Sparse (records x channels) matrix of credit fractions; each row sums to 1."""
        weights = self._touch_weights(data)
        record = data.record_of_touch()
        totals = np.bincount(record, weights, minlength=data.n_records)
        weights = weights / totals[record]
        return sp.csr_array(
            (weights, (record, data.codes)), shape=(data.n_records, len(data.channels))
        )

    def _credit(self, data, conversions, value, nulls):
        fractions = data.cached(("fractions", self), lambda: self._fraction_operator(data))
        return conversions @ fractions, value @ fractions

    def _fraction_operator(self, data: Journeys) -> np.ndarray | sp.csr_array:
        fractions = self.fractions(data)
        if data.n_records * len(data.channels) <= DENSE_FRACTIONS_LIMIT:
            return fractions.toarray()  # dense BLAS products beat sparse ones at this size
        return fractions


def _one_hot_at(data: Journeys, position_from_end: bool) -> np.ndarray:
    position = data.position_of_touch()
    if position_from_end:
        target = np.repeat(data.lengths - 1, data.lengths)
        return (position == target).astype(np.float64)
    return (position == 0).astype(np.float64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LastClick(HeuristicModel):
    """All credit to the last touch before the conversion: the industry baseline."""

    name = "last_click"
    description = "All credit to the last touch before the conversion (the baseline)."

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        return _one_hot_at(data, position_from_end=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FirstClick(HeuristicModel):
    """All credit to the first touch of the journey."""

    name = "first_click"
    description = "All credit to the first touch of the journey."

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        return _one_hot_at(data, position_from_end=False)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Linear(HeuristicModel):
    """Equal credit to every touch (a channel touched twice gets two shares)."""

    name = "linear"
    description = "Equal credit to every touch of the journey."

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        return np.ones(data.n_touches)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PositionBased(HeuristicModel):
    """U-shaped credit: ``first`` to the first touch, ``last`` to the last, the rest between.

    Parameters
    ----------
    first, last : float, default 0.4
        Shares of the first and last touch; the middle touches split
        ``1 - first - last`` equally.

    Notes
    -----
    A journey of one touch gives it all credit. A journey of two touches splits
    credit in proportion ``first : last`` (50/50 by default), since there is no
    middle to take the remainder.
    """

    name = "position_based"
    description = "U-shaped: 40% first touch, 40% last, 20% split among the middle touches."

    first: float = 0.4
    last: float = 0.4

    def _validate(self) -> None:
        for label in ("first", "last"):
            share = getattr(self, label)
            if isinstance(share, bool) or not isinstance(share, int | float):
                raise ConfigurationError(f"{label} must be a number in [0, 1]; got {share!r}")
            if not 0.0 <= share <= 1.0:
                raise ConfigurationError(f"{label} must be in [0, 1]; got {share!r}")
        if self.first + self.last > 1.0 + 1e-12 or self.first + self.last <= 0.0:
            raise ConfigurationError(
                f"first + last must be in (0, 1]; got first={self.first}, last={self.last}. "
                "Example: first=0.4, last=0.4 leaves 0.2 for the middle touches."
            )

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        position = data.position_of_touch()
        length = np.repeat(data.lengths, data.lengths)
        middle = (1.0 - self.first - self.last) / np.maximum(length - 2, 1)
        weights = np.where(position == 0, self.first, middle)
        weights = np.where(position == length - 1, self.last, weights)
        weights = np.where(length == 1, 1.0, weights)
        two = length == 2
        weights[two] = np.where(position[two] == 0, self.first, self.last) / (
            self.first + self.last
        )
        return weights


@dataclasses.dataclass(frozen=True, kw_only=True)
class TimeDecay(HeuristicModel):
    """Credit halves for every ``half_life`` a touch lies before the conversion.

    Parameters
    ----------
    half_life : str, default "7D"
        A duration such as ``"7D"`` or ``"12h"``.

    Notes
    -----
    A touch ``d`` before the conversion weighs ``2 ** (-d / half_life)``; weights
    are normalised within each journey. Needs timestamps, so it refuses journeys
    built from a path table.
    """

    name = "time_decay"
    description = "Credit halves for every half-life a touch lies before the conversion."
    requires_timestamps = True
    path_level = False

    half_life: str = dataclasses.field(
        default="7D", metadata={"schema": {"description": "a duration such as '7D' or '12h'"}}
    )

    def _validate(self) -> None:
        delta = to_timedelta("half_life", self.half_life)
        if not isinstance(self.half_life, str):
            object.__setattr__(self, "half_life", _format_timedelta(delta))

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        half_life_ns = pd.Timedelta(self.half_life).value
        record = data.record_of_touch()
        reference = data.conversion_times.astype(np.int64)[record]
        age = (reference - data.times.astype(np.int64)).astype(np.float64)
        # Relative to the journey's latest touch (touches are in time order), so long
        # lookbacks with short half-lives never underflow to all-zero weights.
        latest = age[data.offsets[1:] - 1]
        return np.exp2(-(age - latest[record]) / half_life_ns)


def _format_timedelta(delta: pd.Timedelta) -> str:
    return delta.isoformat()


@dataclasses.dataclass(frozen=True, kw_only=True)
class LastNonDirect(HeuristicModel):
    """All credit to the last touch that is not the direct channel.

    Parameters
    ----------
    direct_channel : str, default "Direct"
        Name of the direct channel (matched exactly).

    Notes
    -----
    A journey made only of direct touches credits its last (direct) touch, so
    credit still sums to the total.
    """

    name = "last_non_direct"
    description = "All credit to the last touch that is not Direct (Direct only if nothing else)."

    direct_channel: str = "Direct"

    def _validate(self) -> None:
        if not isinstance(self.direct_channel, str) or not self.direct_channel:
            raise ConfigurationError(
                f"direct_channel must be a channel name such as 'Direct'; got "
                f"{self.direct_channel!r}"
            )

    def _check_journeys(self, journeys: Journeys) -> None:
        super()._check_journeys(journeys)
        if self.direct_channel not in journeys.channels:
            warnings.warn(
                f"direct_channel {self.direct_channel!r} is not among the channels "
                f"{list(journeys.channels)[:10]}; last_non_direct equals last_click here. Pass "
                "direct_channel='your direct channel name'.",
                DataWarning,
                stacklevel=4,
            )

    def _touch_weights(self, data: Journeys) -> np.ndarray:
        if self.direct_channel not in data.channels:
            return _one_hot_at(data, position_from_end=True)
        direct_code = data.channels.index(self.direct_channel)
        position = data.position_of_touch()
        candidate = np.where(data.codes != direct_code, position, -1)
        last_other = np.maximum.reduceat(candidate, data.offsets[:-1])
        target = np.where(last_other >= 0, last_other, data.lengths - 1)
        return (position == np.repeat(target, data.lengths)).astype(np.float64)
