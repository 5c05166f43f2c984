"""The `Shapley` model: channel credit as the Shapley value of a cooperative game."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError, DataWarning
from causality.journeys import Journeys
from causality.models.base import AttributionModel
from causality.models.shapley.ordered import credit_by_position
from causality.models.shapley.plan import (
    CustomPlan,
    RatePlan,
    converting_records,
    equal_split,
)
from causality.models.shapley.values import (
    VALUE_FUNCTIONS,
    ValueFunction,
    check_value,
    describe_value,
)
from causality.results import AttributionResult

METHODS = ("auto", "exact", "sampled")


class _UsesNulls:
    """``uses_nulls`` per instance: only the coalition_rate game reads non-converting journeys.

    On the class it reads True, the default game's answer.
    """

    def __get__(self, model: Any, owner: type | None = None) -> bool:
        return model is None or model.value == "coalition_rate"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Shapley(AttributionModel):
    """Shapley values of a cooperative game between channels.

    Parameters
    ----------
    value : {"coalition_rate", "subset_conversions"} or callable, default "coalition_rate"
        The game (characteristic function ``v`` of a set of channels).

        ``"coalition_rate"`` (default): ``v(S)`` is the conversion rate of the
        journeys whose set of distinct channels is exactly ``S``, conversions /
        (conversions + non-converting journeys), and 0 for a set no journey has.
        For every coalition ``S`` with conversions, the game restricted to the
        subsets of ``S`` is solved and its Shapley values, which sum to the rate
        of ``S``, are multiplied by the journeys of ``S`` so that they sum to its
        conversions (as marketing-attribution-models and Dalessandro et al. 2012
        do). It is the default because it is the only built-in game that reads
        non-converting journeys: a channel common in journeys that do not convert
        earns less. A channel whose presence lowers the rate earns negative
        credit; it is kept, counted in ``diagnostics["negative_credit_channels"]``
        and announced with a `DataWarning`.

        ``"subset_conversions"``: ``v(S)`` is the conversions of journeys whose
        channels are a subset of ``S`` (Zhao et al. 2018). Its Shapley value
        splits each journey's conversions equally among its distinct channels,
        exactly and at any size; it never reads non-converting journeys.

        A callable ``v(frozenset[str]) -> float`` (Python only; the API and the
        CLI take the names): a game over all channels of the data. Its Shapley
        values are scaled to sum to total conversions (and, in the same
        proportions, to total value); bootstrap intervals then reflect only the
        resampled totals. ``params()`` records it by qualified name.
    method : {"auto", "exact", "sampled"}, default "auto"
        ``"auto"`` solves a coalition exactly when it has at most
        ``max_exact_channels`` distinct channels and by permutation sampling
        above; a custom game likewise by its number of channels. ``"exact"``
        solves every coalition exactly (the work follows the observed subsets of
        each coalition, not ``2^size``; a custom game needs ``2^n`` calls, so at
        most 25 channels). ``"sampled"`` samples every coalition.
        ``subset_conversions`` is always exact and refuses ``"sampled"``.
    n_permutations : int, default 1000
        Random channel orders per sampled coalition. Standard errors shrink as
        ``1 / sqrt(n_permutations)``.
    max_exact_channels : int, default 20
        Most distinct channels in one coalition (one journey's channel set, not
        the number of channels in the data) solved exactly under ``"auto"``.
    ordered : bool, default False
        Also report Zhao et al.'s ordered Shapley value, credit by touch
        position, in ``extras["shapley_by_position"]`` (see Notes). The channel
        table is unchanged.
    ci_level, n_bootstrap, seed
        As in `AttributionModel`; ``seed`` also drives the permutations.

    Notes
    -----
    Credit sums to total conversions and total value: each coalition's value is
    split in the same proportions as its conversions. The result adds
    ``extras["shapley_standard_errors"]`` (Monte Carlo standard errors of the
    sampled part of each channel's conversions and value, zero when exact) and
    diagnostics ``n_coalitions``, ``largest_coalition``, ``n_exact_coalitions``,
    ``n_sampled_coalitions``, ``n_subset_pairs`` and ``negative_credit_channels``.
    Bootstrap replicates reuse the same permutations, so intervals carry
    sampling noise and the standard errors the Monte Carlo noise.

    No channel is ever dropped: coalitions are never truncated to a few channels
    (marketing-attribution-models keeps at most ``max_size=4``).

    Cost: ``subset_conversions`` is one sparse product per bootstrap batch. The
    exact ``coalition_rate`` game costs in proportion to the number of pairs of
    observed coalitions ``T ⊊ S`` (``diagnostics["n_subset_pairs"]``, about 16
    bytes each): they are found once, cached with the journeys (refits reuse
    them), and every bootstrap replicate costs two sparse products over them, run
    in single precision (relative error about 1e-6, far below bootstrap noise;
    the point estimate is double precision).
    Records are merged by channel set (unless ``ordered``) and those whose channel
    set never converts are dropped: the bootstrap resamples one record per
    converting coalition, which keeps it exact for conversions (sums of Poisson
    counts are Poisson); value moves at the coalition's mean value per conversion.

    The ordered value credits channel ``c`` at position ``i`` with the share of
    each journey's credit earned by ``c`` at its ``i``-th touch; a channel touched
    ``k`` times in a journey gives each of those touches ``1/k`` of its share.
    Summed over positions it gives back the channel's credit. Not defined for a
    custom game (which has no per-journey credit).

    References
    ----------
    K. Zhao, S. H. Mahboobi, S. R. Bagheri (2018), "Shapley Value Methods for
    Attribution Modeling in Online Advertising", arXiv:1804.05327.
    B. Dalessandro, C. Perlich, O. Stitelman, F. Provost (2012), "Causally
    Motivated Attribution for Online Advertising", ADKDD.

    Examples
    --------
    >>> import pandas as pd
    >>> import causality as ca
    >>> from causality.models.shapley import Shapley
    >>> paths = pd.DataFrame({"path": ["Email", "Search", "Email > Search"],
    ...                       "conversions": [1, 2, 3], "nulls": [9, 8, 3]})
    >>> journeys = ca.Journeys.from_paths(paths)
    >>> Shapley(n_bootstrap=0).fit(journeys).table["conversions"]
    channel
    Email     2.2
    Search    3.8
    Name: conversions, dtype: float64
    >>> model = Shapley(value="subset_conversions", n_bootstrap=0)
    >>> model.fit(journeys).table["conversions"]
    channel
    Email     2.5
    Search    3.5
    Name: conversions, dtype: float64
    """

    name = "shapley"
    kind = "allocation"
    description = "Shapley values of a game between channels (default: coalition conversion rate)."
    path_level = True
    uses_nulls = _UsesNulls()

    @property
    def parallel_replicates(self) -> bool:  # type: ignore[override]
        """Built-in value functions are thread-safe; a user's callable may not be."""
        return isinstance(self.value, str)

    value: str | ValueFunction = dataclasses.field(
        default="coalition_rate",
        metadata={
            "schema": {
                "type": "string",
                "enum": list(VALUE_FUNCTIONS),
                "description": "the game; Python callers may pass v(frozenset) -> float",
            }
        },
    )
    method: str = dataclasses.field(
        default="auto", metadata={"schema": {"type": "string", "enum": list(METHODS)}}
    )
    n_permutations: int = dataclasses.field(default=1000, metadata={"schema": {"minimum": 2}})
    max_exact_channels: int = dataclasses.field(default=20, metadata={"schema": {"minimum": 1}})
    ordered: bool = False

    def _validate(self) -> None:
        check_value(self.value)
        if self.method not in METHODS:
            raise ConfigurationError(f"method must be one of {list(METHODS)}; got {self.method!r}")
        for name, minimum in (("n_permutations", 2), ("max_exact_channels", 1)):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, int | np.integer):
                raise ConfigurationError(f"{name} must be an integer >= {minimum}; got {number!r}")
            if number < minimum:
                raise ConfigurationError(f"{name} must be an integer >= {minimum}; got {number!r}")
        if not isinstance(self.ordered, bool | np.bool_):
            raise ConfigurationError(f"ordered must be True or False; got {self.ordered!r}")
        if self.value == "subset_conversions" and self.method == "sampled":
            raise ConfigurationError(
                "method='sampled' does not apply to value='subset_conversions', whose Shapley "
                "value has an exact closed form at any size. Use method='auto' or 'exact'."
            )
        if callable(self.value) and self.ordered:
            raise ConfigurationError(
                "ordered=True needs per-journey credit, which a custom value function (a game "
                "over all channels) does not give. Use value='coalition_rate' or "
                "'subset_conversions' with ordered=True."
            )

    def params(self) -> dict[str, Any]:
        """The model's parameters as a JSON-safe dict (a callable by its qualified name)."""
        return {**super().params(), "value": describe_value(self.value)}

    # -- estimation -----------------------------------------------------------------
    def _prepare(self, journeys: Journeys) -> Journeys:
        data = super()._prepare(journeys)
        if callable(self.value):
            return data
        # One record per converting coalition (per path when touch positions matter):
        # the bootstrap resamples far fewer records. Cached, so refits reuse the plan.
        return data.cached(
            ("shapley-records", self.ordered),
            lambda: converting_records(data, merge=not self.ordered),
        )

    def _plan(self, data: Journeys) -> RatePlan | CustomPlan | None:
        options = (self.method, self.max_exact_channels, self.n_permutations, self.seed)
        if self.value == "coalition_rate":
            return data.cached(
                ("shapley-rate", *options),
                lambda: RatePlan.build(
                    data,
                    method=self.method,
                    limit=self.max_exact_channels,
                    n_permutations=self.n_permutations,
                    seed=self.seed,
                ),
            )
        if callable(self.value):
            return data.cached(
                ("shapley-custom", self.value, *options),
                lambda: CustomPlan.build(
                    self.value,
                    data.channels,
                    method=self.method,
                    limit=self.max_exact_channels,
                    n_permutations=self.n_permutations,
                    seed=self.seed,
                ),
            )
        return None

    def _credit(self, data, conversions, value, nulls):
        plan = self._plan(data)
        if isinstance(plan, RatePlan):
            return plan.credit(conversions, value, nulls)
        if isinstance(plan, CustomPlan):
            return (
                conversions.sum(axis=1)[:, None] * plan.shares,
                value.sum(axis=1)[:, None] * plan.shares,
            )
        # subset_conversions: each coalition's conversions split equally among its channels.
        split = data.cached("shapley-split", lambda: equal_split(data))
        return conversions @ split, value @ split

    def _extras(self, data: Journeys) -> dict[str, Any]:
        plan = self._plan(data)
        n_channels = len(data.channels)
        errors = (np.zeros(n_channels), np.zeros(n_channels))
        numbers: dict[str, Any] = {}
        if isinstance(plan, RatePlan):
            errors = plan.standard_errors(data)
            sizes = plan.coalitions.sizes[plan.family]
            numbers = {
                "n_coalitions": len(plan.family),
                "largest_coalition": int(sizes.max(initial=0)),
                "n_exact_coalitions": len(plan.exact_index),
                "n_sampled_coalitions": len(plan.family) - len(plan.exact_index),
                "n_subset_pairs": plan.exact.n_pairs if plan.exact is not None else 0,
            }
        elif isinstance(plan, CustomPlan):
            errors = (
                plan.standard_errors * data.total_conversions,
                plan.standard_errors * data.total_value,
            )
            numbers = {"n_sampled_coalitions": 0 if plan.exact else 1}
        else:  # subset_conversions: a closed form, never sampled
            split = data.cached("shapley-split", lambda: equal_split(data))
            largest = int(np.diff(split.indptr).max(initial=0))
            numbers = {"largest_coalition": largest, "n_sampled_coalitions": 0}
        table = pd.DataFrame(
            {"conversions": errors[0], "value": errors[1]},
            index=pd.Index(data.channels, name="channel"),
        )
        extras: dict[str, Any] = {"shapley_standard_errors": table, "_diagnostics": numbers}
        if self.ordered:
            extras["shapley_by_position"] = self._by_position(data, plan)
        return extras

    def _by_position(self, data: Journeys, plan: RatePlan | CustomPlan | None) -> pd.DataFrame:
        if isinstance(plan, RatePlan):
            coalition, channel, fraction = plan.cells(data)
            in_family = np.full(plan.coalitions.n_coalitions, -1, dtype=np.int64)
            in_family[plan.family] = np.arange(len(plan.family))
            record = in_family[plan.coalitions.record]  # -1: no conversions, no credit
        else:
            # subset_conversions: each record is its own "coalition" with equal shares.
            split = data.cached("shapley-split", lambda: equal_split(data)).tocoo()
            record, coalition = np.arange(data.n_records), split.row
            channel, fraction = split.col, split.data
        return credit_by_position(data, record, coalition, channel, fraction)

    def fit(self, journeys: Journeys | pd.DataFrame) -> AttributionResult:
        """Attribute conversions to channels; see `AttributionModel.fit`.

        Negative credit (possible with ``coalition_rate`` and custom games) is
        kept as computed, counted in ``diagnostics["negative_credit_channels"]``
        and announced with a `DataWarning`.
        """
        result = super().fit(journeys)
        extras = dict(result.extras)
        numbers = extras.pop("_diagnostics", {})
        credit = result.table["conversions"]
        negative = credit.index[credit < -1e-9 * max(result.total_conversions, 1.0)]
        if len(negative):
            warnings.warn(
                f"Shapley credit is negative for {len(negative)} channel(s) "
                f"({', '.join(map(str, negative[:5]))}): with value={describe_value(self.value)!r} "
                "a channel whose presence lowers its coalitions' conversion rate earns "
                "negative credit. It is kept (not clipped); see the model's Notes.",
                DataWarning,
                stacklevel=2,
            )
        diagnostics = {**result.diagnostics, **numbers, "negative_credit_channels": len(negative)}
        return dataclasses.replace(result, diagnostics=diagnostics, extras=extras)
