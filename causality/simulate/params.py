"""Merge scenario defaults with overrides and validate them.

``resolve_params`` returns the JSON-safe ``params`` dict a :class:`Simulation` records
(:class:`~causality.simulate.config.Config` compiles it to arrays). Every problem raises
:class:`~causality.errors.ConfigurationError` naming the parameter at fault.
"""

from __future__ import annotations

import copy
import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.simulate.config import topological_order
from causality.simulate.scenarios import DEFAULTS, NESTED, PER_CHANNEL, SCENARIOS

__all__ = ["resolve_params"]


_CORE = ("scenario", "n_users", "n_days", "seed")
_REQUIRED_PER_CHANNEL = ("exposure", "lift")  # a new channel must be given these
_UNIT = ("exposure", "tracking_loss", "decay")  # per-channel values in [0, 1]
_NON_NEGATIVE = ("visit_boost", "saturation")
_SCALAR_UNIT = ("base_hazard", "visit_rate", "anonymous_share", "offline_share")
_SCALAR_NON_NEGATIVE = ("intent_sd", "visit_intent", "value_sigma", "identify_spread")
_SCALAR_ANY = ("device_intent", "region_intent", "value_intent")
_INTEGERS = ("visit_window", "prior_window")


def _fail(name: str, value: Any, allowed: str) -> ConfigurationError:
    return ConfigurationError(f"simulate(): parameter {name!r} = {value!r} is invalid; {allowed}.")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise _fail(name, value, "expected a finite number")
    return float(value)


def _integer(name: str, value: Any, low: int) -> int:
    integral = isinstance(value, int | np.integer) or (
        isinstance(value, float) and value.is_integer()  # accept n_users=1e5
    )
    if isinstance(value, bool) or not integral or value < low:
        raise _fail(name, value, f"expected an integer >= {low}")
    return int(value)


def _merge(params: dict[str, Any], key: str, value: Any) -> None:
    """Apply one override: per-channel and nested dicts merge, everything else replaces."""
    if key in PER_CHANNEL:
        if isinstance(value, dict):
            params[key] = {**params[key], **value}
        else:  # a scalar sets every channel
            params[key] = dict.fromkeys(params["channels"], value)
    elif key in NESTED:
        if value is None:
            params[key] = {}
        elif not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise _fail(key, value, "expected {from_channel: {to_channel: strength}} or None")
        else:
            merged = copy.deepcopy(params[key])
            for source, targets in value.items():
                merged[source] = {**merged.get(source, {}), **targets}
            params[key] = merged
    else:
        params[key] = copy.deepcopy(value)


def _prune(params: dict[str, Any]) -> None:
    keep = set(params["channels"])
    for key in PER_CHANNEL:
        params[key] = {c: v for c, v in params[key].items() if c in keep}
    for key in NESTED:
        params[key] = {
            a: {b: v for b, v in targets.items() if b in keep}
            for a, targets in params[key].items()
            if a in keep
        }


def resolve_params(
    scenario: str, n_users: Any, n_days: Any, seed: Any, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Scenario defaults + overrides, validated, as a JSON-safe dict.

    Examples
    --------
    >>> p = resolve_params("clean", 1000, 30, 0, {"lift": {"Email": 0.0}})
    >>> p["lift"]["Email"], p["decay"]["Email"]
    (0.0, 0.0)
    """
    if scenario not in SCENARIOS:
        raise _fail("scenario", scenario, f"expected one of {sorted(SCENARIOS)}")
    valid = sorted({*DEFAULTS, "n_users", "n_days", "seed"})
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(
            f"simulate(): unknown parameter(s) {unknown}; valid parameters are {valid}."
        )
    params = copy.deepcopy(DEFAULTS)
    for key, value in SCENARIOS[scenario]["overrides"].items():
        _merge(params, key, value)
    if "channels" in overrides:
        # Channels first, so that the other overrides can describe newly added channels;
        # defaults that mention a dropped channel are dropped with it.
        _merge(params, "channels", overrides["channels"])
        _check_channels(params)
        _prune(params)
    for key, value in overrides.items():
        if key != "channels":
            _merge(params, key, value)
    params.update(
        scenario=scenario,
        n_users=_integer("n_users", n_users, 1),
        n_days=_integer("n_days", n_days, 1),
        seed=_integer("seed", seed, 0),
    )
    if params["seed"] >= 2**63:
        raise _fail("seed", seed, "expected an integer below 2**63")
    _validate(params)
    return {k: params[k] for k in (*_CORE, *DEFAULTS)}


def _check_channels(params: dict[str, Any]) -> None:
    channels = params["channels"]
    if (
        not isinstance(channels, list | tuple)
        or not channels
        or not all(isinstance(c, str) and c for c in channels)
        or len(set(channels)) != len(channels)
        or len(channels) > 62  # users' channel sets are int64 bitmasks
    ):
        raise _fail("channels", channels, "expected 1 to 62 distinct non-empty strings")
    params["channels"] = list(channels)


def _check_per_channel(params: dict[str, Any], key: str) -> None:
    channels, given = params["channels"], params[key]
    if not isinstance(given, dict):
        raise _fail(key, given, "expected a number or a {channel: number} dict")
    extra = sorted(map(str, set(given) - set(channels)))
    if extra:
        raise _fail(key, given, f"unknown channel(s) {extra}; channels are {channels}")
    missing = [c for c in channels if c not in given]
    if missing and key in _REQUIRED_PER_CHANNEL:
        raise _fail(key, given, f"channel(s) {missing} need a value")
    values = {c: _number(f"{key}[{c!r}]", given.get(c, 0.0)) for c in channels}
    for c, v in values.items():
        if key in _UNIT and not 0.0 <= v <= 1.0:
            raise _fail(f"{key}[{c!r}]", v, "expected a probability in [0, 1]")
        if key in _NON_NEGATIVE and v < 0.0:
            raise _fail(f"{key}[{c!r}]", v, "expected a number >= 0")
    params[key] = values


def _check_nested(params: dict[str, Any], key: str) -> None:
    channels = params["channels"]
    for source, targets in params[key].items():
        for target, v in targets.items():
            if source not in channels or target not in channels:
                raise _fail(key, params[key], f"channels must be among {channels}")
            v = _number(f"{key}[{source!r}][{target!r}]", v)
            if key == "mediation" and (v < 0.0 or source == target):
                raise _fail(f"mediation[{source!r}][{target!r}]", v, "expected >= 0, a != b")
            targets[target] = v


def _check_scalars(params: dict[str, Any]) -> None:
    for key in (*_SCALAR_UNIT, *_SCALAR_NON_NEGATIVE, *_SCALAR_ANY, "value_mean"):
        params[key] = _number(key, params[key])  # also makes numpy numbers JSON-safe
    for key in _SCALAR_UNIT:
        if not 0.0 <= params[key] <= 1.0:
            raise _fail(key, params[key], "expected a probability in [0, 1]")
    for key in _SCALAR_NON_NEGATIVE:
        if params[key] < 0.0:
            raise _fail(key, params[key], "expected a number >= 0")
    if params["value_mean"] <= 0.0:
        raise _fail("value_mean", params["value_mean"], "expected a number > 0")
    if params["lift_cap"] is not None:
        params["lift_cap"] = _number("lift_cap", params["lift_cap"])
        if params["lift_cap"] <= 0.0:
            raise _fail("lift_cap", params["lift_cap"], "expected None or a number > 0")
    for key in _INTEGERS:
        params[key] = _integer(key, params[key], 0)
    if not isinstance(params["log_after_conversion"], bool):
        raise _fail("log_after_conversion", params["log_after_conversion"], "expected a bool")
    try:
        start = pd.Timestamp(params["start"])
    except (TypeError, ValueError) as exc:
        raise _fail("start", params["start"], "expected a date such as '2024-01-01'") from exc
    if pd.isna(start):
        raise _fail("start", params["start"], "expected a date such as '2024-01-01'")
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    params["start"] = start.isoformat()


def _validate(params: dict[str, Any]) -> None:
    _check_channels(params)
    for key in PER_CHANNEL:
        _check_per_channel(params, key)
    for key in NESTED:
        _check_nested(params, key)
    topological_order(params["channels"], params["mediation"], error=_fail)
    _check_scalars(params)
