"""Validating the ``lift_tests`` frame and turning each test into rows of its window.

Units: ``incremental_conversions`` and ``standard_error`` are totals over the test's
population and window [``start``, ``end``) (default: the whole data window): the
difference in conversion rate between exposed-eligible and holdout users times the
population size, not a rate or a weekly average. Zero and negative lifts are accepted.

``population`` (optional) says which users the test covered:

* empty, or a number (the size of the population the total refers to, as
  ``ca.simulate(...).lift_test(...).to_frame()`` gives it): every analysed user. Users
  with no touch are unaffected by any channel, so a whole-population total needs no
  rescaling to the analysed users;
* text: a filter on journey attributes in `pandas.DataFrame.query` syntax, e.g.
  ``"region == 'North'"`` or ``"device in ['mobile', 'tablet']"``, evaluated on each
  user's attributes at their first journey; the model-implied lift is summed over those
  users only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError

REQUIRED = ("channel", "incremental_conversions", "standard_error")
OPTIONAL = ("start", "end", "population")


def normalise_lift_tests(tests: Any) -> pd.DataFrame | None:
    """Check the frame's columns and numbers; returns a clean copy (or None)."""
    if tests is None:
        return None
    if isinstance(tests, Mapping):
        tests = pd.DataFrame([tests])
    elif isinstance(tests, Sequence) and not isinstance(tests, str):
        tests = pd.DataFrame(list(tests))
    if not isinstance(tests, pd.DataFrame):
        raise ConfigurationError(
            "lift_tests must be a DataFrame with columns channel, incremental_conversions, "
            f"standard_error (optional start, end, population); got {type(tests).__name__}"
        )
    missing = [c for c in REQUIRED if c not in tests.columns]
    if missing:
        raise ConfigurationError(
            f"lift_tests is missing column(s) {missing}. Fix: give a frame with columns "
            f"{list(REQUIRED)} and optionally {list(OPTIONAL)}, e.g. "
            "sim.lift_test('Email').to_frame()."
        )
    frame = tests[[c for c in (*REQUIRED, *OPTIONAL) if c in tests.columns]].copy()
    frame = frame.reset_index(drop=True)
    for column in ("incremental_conversions", "standard_error"):
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        if not np.isfinite(values).all():
            raise ConfigurationError(
                f"lift_tests column {column!r} must hold finite numbers; got "
                f"{frame[column].tolist()}. Fix: drop or correct those rows."
            )
        frame[column] = values
    if (frame["standard_error"] <= 0).any():
        raise ConfigurationError(
            "lift_tests column 'standard_error' must be positive (a test with no noise "
            f"cannot exist); got {frame['standard_error'].tolist()}. Fix: give each test's "
            "standard error of incremental_conversions."
        )
    if "population" in frame.columns:
        frame["population"] = [_population(v) for v in frame["population"]]
    for column in ("start", "end"):
        if column in frame.columns:
            try:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(
                    f"lift_tests column {column!r} must hold timestamps; got "
                    f"{frame[column].tolist()}"
                ) from exc
    frame["channel"] = frame["channel"].astype(str)
    return frame


def _population(value: Any) -> float | str | None:
    """One ``population`` entry: None (everyone), a positive size, or a filter text."""
    if isinstance(value, str):
        if not value.strip():
            return None
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        if value > 0:
            return float(value)
    raise ConfigurationError(
        "lift_tests column 'population' must be empty, a positive number of users, or a "
        f"filter on journey attributes such as \"region == 'North'\"; got {value!r}."
    )


def population_users(population: Any, attributes: pd.DataFrame) -> np.ndarray | None:
    """Codes of the users a test's ``population`` selects (None: every analysed user).

    ``attributes`` holds one row per user (row ``i`` is user code ``i``).

    Examples
    --------
    >>> frame = pd.DataFrame({"user": ["a", "b", "c"], "region": ["North", "South", "North"]})
    >>> population_users("region == 'North'", frame).tolist()
    [0, 2]
    >>> population_users(1000.0, frame) is None
    True
    """
    if not isinstance(population, str):
        return None
    try:
        selected = attributes.query(population, engine="python")
    except Exception as exc:  # query raises many types on a bad expression
        raise ConfigurationError(
            f"lift_tests population filter {population!r} could not be evaluated on the "
            f"journey attributes ({type(exc).__name__}: {exc}). Available columns: "
            f"{[c for c in attributes.columns if c != 'user']}"
        ) from exc
    users = np.flatnonzero(attributes.index.isin(selected.index))
    if not len(users):
        raise ConfigurationError(
            f"lift_tests population filter {population!r} selects no analysed user. Fix: "
            "check the filter's values against the journey attributes."
        )
    return users


def check_channels(tests: pd.DataFrame, channels: Sequence[str]) -> None:
    """Every tested channel must be a channel of the journeys."""
    unknown = sorted(set(tests["channel"]) - set(channels))
    if unknown:
        raise ConfigurationError(
            f"lift_tests column 'channel' names channel(s) {unknown} absent from the "
            f"journeys. Available channels: {list(channels)}"
        )


def test_day_mask(row: pd.Series, day0: pd.Timestamp, n_days: int) -> np.ndarray:
    """Days of the data window inside the test's [start, end) (whole days)."""
    days = np.arange(n_days)
    mask = np.ones(n_days, dtype=bool)
    origin = day0.tz_localize("UTC") if day0.tzinfo is None else day0
    start, end = row.get("start"), row.get("end")
    if start is not None and not pd.isna(start):
        mask &= days >= np.floor((start - origin) / pd.Timedelta(days=1))
    if end is not None and not pd.isna(end):
        mask &= days < np.ceil((end - origin) / pd.Timedelta(days=1))
    return mask


def records(tests: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """JSON-safe records of the frame (timestamps as ISO text)."""
    if tests is None:
        return None
    out = []
    for row in tests.to_dict(orient="records"):
        out.append(
            {
                k: (v.isoformat() if isinstance(v, pd.Timestamp) else (None if pd.isna(v) else v))
                for k, v in row.items()
            }
        )
    return out
