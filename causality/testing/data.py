"""Small, deterministic inputs the contract suite fits every model on."""

from __future__ import annotations

import functools

import pandas as pd

from causality.journeys import Journeys


@functools.cache
def _example_events() -> pd.DataFrame:
    from causality.datasets import load_example

    return load_example()


def contract_events() -> pd.DataFrame:
    """The shipped example event log (a fresh copy on every call)."""
    return _example_events().copy()


def contract_journeys() -> Journeys:
    """Journeys of `contract_events` with the default 30-day lookback."""
    return Journeys.from_events(contract_events(), lookback="30D")


def contract_paths() -> pd.DataFrame:
    """A small path table with repeated paths, a single-touch path and a zero-null row."""
    return pd.DataFrame(
        {
            "path": ["A > B > C", "A", "B > A", "C > C > B", "A > B > C", "C", "B"],
            "conversions": [3, 5, 2, 4, 1, 0, 2],
            "value": [30.0, 45.5, 20.0, 44.0, 10.0, 0.0, 18.0],
            "nulls": [7, 20, 4, 0, 2, 9, 6],
        }
    )
