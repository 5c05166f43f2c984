"""Value functions (characteristic functions) of the Shapley games.

``"subset_conversions"``
    ``v(S)`` = conversions of journeys whose channel set is a subset of ``S``
    (Zhao et al. 2018). ``v`` is a sum of unanimity games, one per observed
    coalition weighted by its conversions, so the Shapley value splits each
    journey's conversions equally among its distinct channels, exactly, at any
    coalition size.
``"coalition_rate"``
    ``v(S)`` = conversion rate of journeys whose channel set is exactly ``S``:
    conversions / (conversions + non-converting journeys); 0 for a coalition no
    journey has. Each observed coalition's game on its own subsets is solved and
    rescaled to that coalition's conversions (as marketing-attribution-models
    and Dalessandro et al. 2012 do).
a callable ``v(frozenset[str]) -> float``
    A game over all channels, evaluated on sets of channel names.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from causality.errors import ConfigurationError, EstimationError
from causality.models.shapley.coalitions import members_of

VALUE_FUNCTIONS = ("coalition_rate", "subset_conversions")

#: A custom value function: the worth of a set of channel names.
ValueFunction = Callable[[frozenset[str]], float]


def check_value(value: object) -> None:
    """Raise `ConfigurationError` unless ``value`` names a value function or is callable."""
    if callable(value) or (isinstance(value, str) and value in VALUE_FUNCTIONS):
        return
    raise ConfigurationError(
        f"value must be one of {list(VALUE_FUNCTIONS)} or a callable "
        f"v(frozenset of channel names) -> float; got {value!r}"
    )


def describe_value(value: str | ValueFunction) -> str:
    """A JSON-safe name of a value function (a callable is named by its qualified name)."""
    if isinstance(value, str):
        return value
    module = getattr(value, "__module__", None) or "?"
    name = getattr(value, "__qualname__", None) or type(value).__name__
    return f"callable:{module}.{name}"


def coalition_rate(conversions: np.ndarray, journeys: np.ndarray) -> np.ndarray:
    """Conversions per journey, 0 where a coalition has no journey (resampled away)."""
    return np.divide(conversions, journeys, out=np.zeros_like(conversions), where=journeys > 0)


def callable_game(
    value: ValueFunction, channels: tuple[str, ...]
) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a user value function as a game on bitmasks over ``channels``.

    The user function is called once per distinct coalition, with a frozenset
    of channel names; its results must be finite numbers.
    """
    names = np.asarray(channels, dtype=object)

    def game(masks: np.ndarray) -> np.ndarray:
        offsets, members = members_of(masks, len(channels))
        out = np.empty(len(masks))
        for i in range(len(masks)):  # the user's function is Python: one call per coalition
            coalition = frozenset(names[members[offsets[i] : offsets[i + 1]]].tolist())
            try:
                worth = float(value(coalition))
            except (TypeError, ValueError) as exc:
                raise EstimationError(
                    f"the value function {describe_value(value)} failed on {set(coalition)}: "
                    f"{exc}. Fix: return a finite number for every set of channel names."
                ) from exc
            if not math.isfinite(worth):
                raise EstimationError(
                    f"the value function {describe_value(value)} returned {worth} for "
                    f"{set(coalition)}. Fix: return a finite number for every set of channels."
                )
            out[i] = worth
        return out

    return game


def all_masks(n_players: int) -> np.ndarray:
    """Every bitmask over ``n_players`` (< 64) players, as (2**n, 1) uint64, in order."""
    return np.arange(2**n_players, dtype=np.uint64)[:, None]
