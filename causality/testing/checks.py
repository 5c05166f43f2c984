"""The contract every registered model must honour, as plain ``check_*`` functions.

Each check takes a model class and raises `AssertionError` (with a message) when
the model breaks the contract. Models whose fits are slow may declare a class
attribute ``contract_params`` (a dict) merged into every construction here, e.g.
fewer MCMC draws. Models whose point estimates themselves come from random draws
(posterior medians) may declare ``contract_point_rtol``, the relative tolerance
of their point estimates in the invariance checks (default 1e-9: exact).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError, DataWarning, JourneyValidationError
from causality.journeys import Journeys
from causality.results import TABLE_COLUMNS, AttributionResult
from causality.testing.data import contract_events, contract_journeys, contract_paths

#: Allowed values of the ``confidence`` column.
CONFIDENCE_VALUES = {"high", "medium", "low", "none"}
#: Bootstrap replicates used by the contract suite.
N_BOOTSTRAP = 200


def _make(model: type, **params: Any) -> Any:
    merged = {**getattr(model, "contract_params", {}), **params}
    if hasattr(model, "from_params"):
        return model.from_params(merged)
    return model(**merged)


def _fit(model: type, data: Journeys | pd.DataFrame | None = None, **params: Any):
    params.setdefault("seed", 0)
    if "n_bootstrap" in getattr(model, "param_names", lambda: ())():
        params.setdefault("n_bootstrap", N_BOOTSTRAP)
    with warnings.catch_warnings():
        # The toy path table lacks channels some models look for (e.g. 'Direct').
        warnings.simplefilter("ignore", DataWarning)
        return _make(model, **params).fit(contract_journeys() if data is None else data)


def _interval_tolerance(a: pd.DataFrame, column: str) -> np.ndarray:
    width = (a[f"{column}_upper"] - a[f"{column}_lower"]).to_numpy()
    return 0.35 * width + 1e-9 * (1 + a[column].abs().to_numpy())


def check_metadata(model: type) -> None:
    """Class metadata, a JSON parameter schema, and unknown parameters refused."""
    assert isinstance(model.name, str) and model.name, "model needs a non-empty `name`"
    assert model.name == model.name.lower() and " " not in model.name, "name must be snake_case"
    assert model.kind in ("allocation", "incrementality"), f"bad kind {model.kind!r}"
    assert isinstance(model.description, str) and model.description, "model needs a description"
    if hasattr(model, "param_schema"):
        schema = model.param_schema()
        json.dumps(schema)
        assert schema.get("type") == "object" and "properties" in schema
        for name in ("ci_level", "seed"):
            assert name in schema["properties"], f"parameter {name!r} missing from param_schema"
    try:
        _make(model, no_such_parameter=1)
    except ConfigurationError as exc:
        assert "no_such_parameter" in str(exc), "the error must name the unknown parameter"
    else:
        raise AssertionError("an unknown parameter must raise ConfigurationError")


def check_result_schema(model: type) -> None:
    """The result has the documented table, metadata and a JSON round trip."""
    journeys = contract_journeys()
    result = _fit(model, journeys)
    assert isinstance(result, AttributionResult), f"fit returned {type(result).__name__}"
    table = result.table
    assert tuple(table.columns) == TABLE_COLUMNS, f"table columns are {list(table.columns)}"
    assert table.index.name == "channel", "table index must be named 'channel'"
    assert set(table.index) == set(journeys.channels), "every channel needs a row"
    assert set(table["confidence"]) <= CONFIDENCE_VALUES, set(table["confidence"])
    numeric = table.drop(columns="confidence")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all(), "credit must be finite"
    assert result.model == model.name and result.kind == model.kind
    assert result.ci_level == 0.9 and result.seed == 0
    assert result.n_journeys == len(journeys)
    assert np.isclose(result.total_conversions, journeys.total_conversions)
    assert np.isclose(result.total_value, journeys.total_value)
    assert np.isclose(result.unattributed_conversions, journeys.unattributed_conversions)
    if result.kind == "incrementality":
        assert result.baseline is not None, "incrementality results need a baseline"
    restored = AttributionResult.from_dict(json.loads(json.dumps(result.to_dict())))
    pd.testing.assert_frame_equal(restored.table, result.table, check_dtype=False)
    assert restored.params == result.params


def check_allocation_sums_to_totals(model: type) -> None:
    """Allocation credit sums to total conversions and to total value."""
    if model.kind != "allocation":
        return
    for data in (contract_journeys(), Journeys.from_paths(contract_paths())):
        if getattr(model, "requires_timestamps", False) and not data.has_timestamps:
            continue
        result = _fit(model, data)
        np.testing.assert_allclose(
            result.table["conversions"].sum(),
            result.total_conversions,
            rtol=1e-9,
            err_msg="conversion credit must sum to total_conversions",
        )
        np.testing.assert_allclose(
            result.table["value"].sum(),
            result.total_value,
            rtol=1e-9,
            err_msg="value credit must sum to total_value",
        )
        np.testing.assert_allclose(result.table["share"].sum(), 1.0, rtol=1e-9)


def check_intervals_contain_estimate(model: type) -> None:
    """``lower <= estimate <= upper`` for conversions and value."""
    table = _fit(model).table
    for column in ("conversions", "value"):
        est, lo, hi = (table[c].to_numpy() for c in (column, f"{column}_lower", f"{column}_upper"))
        slack = 1e-9 * (1 + np.abs(est))
        assert np.all(lo <= est + slack) and np.all(est <= hi + slack), (
            f"{column} interval does not contain the estimate:\n{table}"
        )


def check_point_estimate_without_bootstrap(model: type) -> None:
    """``n_bootstrap=0`` gives ``lower == upper == estimate`` and confidence 'none'."""
    if "n_bootstrap" not in getattr(model, "param_names", lambda: ())():
        return
    table = _fit(model, n_bootstrap=0).table
    for column in ("conversions", "value"):
        np.testing.assert_array_equal(table[f"{column}_lower"], table[column])
        np.testing.assert_array_equal(table[f"{column}_upper"], table[column])
    assert set(table["confidence"]) == {"none"}


def check_row_order_invariance(model: type) -> None:
    """Shuffling the event rows changes no estimate; intervals agree within MC noise.

    Events with equal timestamps keep their relative order (the documented
    tie-break is input order), so only the order of distinct times is shuffled.
    """
    events = contract_events()
    position = pd.Series(np.random.default_rng(1).permutation(len(events)), index=events.index)
    # Within a group of equal timestamps, hand the group's positions out in input order.
    position = position.groupby(events["timestamp"]).transform(lambda s: np.sort(s.to_numpy()))
    shuffled = events.iloc[np.argsort(position.to_numpy())]
    a = _fit(model, Journeys.from_events(events)).table
    b = _fit(model, Journeys.from_events(shuffled)).table.loc[a.index]
    _assert_same_credit(a, b, "shuffling event rows", _point_rtol(model))


def check_channel_renaming_invariance(model: type) -> None:
    """Renaming channels moves credit with the names and changes nothing else."""
    events = contract_events()
    names = sorted(events["channel"].dropna().unique())
    # Reverse the alphabetical order so every channel code changes.
    mapping = {old: f"zz-{len(names) - i:02d} {old[::-1]}" for i, old in enumerate(names)}
    renamed = events.assign(channel=events["channel"].map(mapping))
    params = {}
    if "direct_channel" in getattr(model, "param_names", lambda: ())():
        params["direct_channel"] = mapping.get("Direct", "Direct")
    a = _fit(model, Journeys.from_events(events)).table
    b = _fit(model, Journeys.from_events(renamed), **params).table
    b = b.rename(index={v: k for k, v in mapping.items()}).loc[a.index]
    _assert_same_credit(a, b, "renaming channels", _point_rtol(model))


def _point_rtol(model: type) -> float:
    return float(getattr(model, "contract_point_rtol", 1e-9))


def _assert_same_credit(a: pd.DataFrame, b: pd.DataFrame, what: str, rtol: float) -> None:
    scale = a[["conversions", "value"]].abs().max()
    for column in ("conversions", "value", "share"):
        atol = 1e-9 if column == "share" else 1e-9 + rtol * float(scale.get(column, 0.0))
        np.testing.assert_allclose(
            b[column],
            a[column],
            rtol=rtol,
            atol=atol if rtol > 1e-9 else 1e-9,
            err_msg=f"{what} changed the {column} estimates",
        )
    for column in ("conversions", "value"):
        tol = _interval_tolerance(a, column)
        for bound in ("lower", "upper"):
            diff = np.abs(b[f"{column}_{bound}"].to_numpy() - a[f"{column}_{bound}"].to_numpy())
            assert np.all(diff <= tol), (
                f"{what} moved {column}_{bound} beyond Monte Carlo tolerance: {diff} > {tol}"
            )


def check_seed_reproducible(model: type) -> None:
    """The same seed gives the same result."""
    a = _fit(model, seed=123).table
    b = _fit(model, seed=123).table
    pd.testing.assert_frame_equal(a, b)


def check_threads_change_nothing(model: type) -> None:
    """Bootstrap replicates in several threads (``n_jobs``) give the same result as in one.

    Models without ``n_jobs`` pass; so do those that keep replicates in the calling
    thread (``parallel_replicates = False``), trivially. Small batches (one block of
    replicates each) make the replicates of the toy table spread over several batches
    and threads.
    """
    if "n_jobs" not in getattr(model, "param_names", lambda: ())():
        return
    from causality.models import base

    one = _fit(model, n_jobs=1).table
    budget = base.BOOTSTRAP_BATCH_CELLS
    base.BOOTSTRAP_BATCH_CELLS = 64
    try:
        many = _fit(model, n_jobs=3).table
    finally:
        base.BOOTSTRAP_BATCH_CELLS = budget
    pd.testing.assert_frame_equal(one, many)


def check_input_not_mutated(model: type) -> None:
    """Fitting leaves the events and the journeys untouched."""
    events = contract_events()
    before = events.copy(deep=True)
    journeys = Journeys.from_events(events)
    codes, conversions = journeys.codes.copy(), journeys.conversions.copy()
    _fit(model, journeys)
    _fit(model, events)
    pd.testing.assert_frame_equal(events, before)
    np.testing.assert_array_equal(journeys.codes, codes)
    np.testing.assert_array_equal(journeys.conversions, conversions)


def check_bad_parameters_raise(model: type) -> None:
    """Invalid ``ci_level``/``seed``/``n_bootstrap`` raise `ConfigurationError` naming them."""
    bad: list[dict[str, Any]] = [{"ci_level": 1.5}, {"ci_level": 0}, {"seed": -1}]
    if "n_bootstrap" in getattr(model, "param_names", lambda: ())():
        bad.append({"n_bootstrap": -1})
    for params in bad:
        try:
            _make(model, **params)
        except ConfigurationError as exc:
            (name,) = params
            assert name in str(exc), f"the error for {params} must name {name!r}: {exc}"
            assert isinstance(exc, ValueError)
        else:
            raise AssertionError(f"{params} must raise ConfigurationError")


def check_bad_input_raises(model: type) -> None:
    """Bad input raises `JourneyValidationError` naming the problem and the fix."""
    events = contract_events()
    fitted = _make(model, seed=0)
    cases: list[tuple[Any, str]] = [
        ("not journeys", "Journeys"),
        (events[events["event_type"] != "conversion"], "conversion"),
        (events.drop(columns="timestamp"), "timestamp"),
        (
            events.assign(value=np.where(events["event_type"] == "conversion", -5.0, np.nan)),
            "value",
        ),
    ]
    for data, needle in cases:
        try:
            fitted.fit(data)
        except JourneyValidationError as exc:
            assert needle in str(exc), f"error should mention {needle!r}: {exc}"
            assert "Fix" in str(exc) or "fix" in str(exc), f"error should say how to fix: {exc}"
        else:
            raise AssertionError(f"fitting bad input ({needle}) must raise JourneyValidationError")


def check_path_table_input(model: type) -> None:
    """Path tables work, or are refused with a clear error when time is needed."""
    data = Journeys.from_paths(contract_paths())
    if getattr(model, "requires_timestamps", False):
        try:
            _fit(model, data)
        except JourneyValidationError as exc:
            assert "timestamp" in str(exc)
            return
        raise AssertionError("a model needing timestamps must refuse a path table")
    result = _fit(model, data)
    assert set(result.table.index) == {"A", "B", "C"}


CHECKS: dict[str, Callable[[type], None]] = {
    check.__name__: check
    for check in (
        check_metadata,
        check_result_schema,
        check_allocation_sums_to_totals,
        check_intervals_contain_estimate,
        check_point_estimate_without_bootstrap,
        check_row_order_invariance,
        check_channel_renaming_invariance,
        check_seed_reproducible,
        check_threads_change_nothing,
        check_input_not_mutated,
        check_bad_parameters_raise,
        check_bad_input_raises,
        check_path_table_input,
    )
}
