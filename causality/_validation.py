"""Small helpers shared by input validation: error messages that show offending rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError, JourneyValidationError

#: How many offending rows an error message shows.
N_SHOWN_ROWS = 5


def offending_rows(frame: pd.DataFrame, mask: np.ndarray, columns: list[str]) -> str:
    """Describe the rows where ``mask`` is true: their count and the first few, as text."""
    mask = np.asarray(mask, dtype=bool)
    count = int(mask.sum())
    shown = frame.loc[mask, [c for c in columns if c in frame.columns]].head(N_SHOWN_ROWS)
    noun = "row" if count == 1 else "rows"
    return f"{count:,} {noun}; first {len(shown)}:\n{shown.to_string()}"


def raise_for_rows(
    frame: pd.DataFrame, mask: np.ndarray, *, column: str, rule: str, fix: str, show: list[str]
) -> None:
    """Raise `JourneyValidationError` naming ``column`` if any row in ``mask`` breaks ``rule``."""
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        raise JourneyValidationError(
            f"column {column!r}: {rule} in {offending_rows(frame, mask, show)}\nFix: {fix}"
        )


def check_probability_level(name: str, level: Any) -> float:
    """Validate a level strictly between 0 and 1 (``ci_level`` and the like)."""
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise ConfigurationError(
            f"{name} must be a number between 0 and 1 (exclusive); got {level!r}"
        )
    if not 0.0 < float(level) < 1.0:
        raise ConfigurationError(
            f"{name} must be between 0 and 1 (exclusive), e.g. {name}=0.9; got {level!r}"
        )
    return float(level)


def check_count(name: str, value: Any, *, minimum: int = 0) -> int:
    """Validate an integer count at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigurationError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_seed(value: Any) -> int | None:
    """Validate a seed: a non-negative integer or None (fresh entropy, not reproducible)."""
    if value is None:
        return None
    return check_count("seed", value, minimum=0)


def to_timedelta(name: str, value: Any, *, allow_none: bool = False) -> pd.Timedelta | None:
    """Parse a positive duration such as ``"30D"``, ``"12h"`` or a `pandas.Timedelta`."""
    if value is None and allow_none:
        return None
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        raise ConfigurationError(
            f"{name} must be a duration with a unit such as '30D' or '12h'; got the bare number "
            f"{value!r}, whose unit is ambiguous. Fix: {name}='{value}D' for days."
        )
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError):
        delta = pd.NaT
    if delta is pd.NaT or pd.isna(delta) or isinstance(value, bool) or delta <= pd.Timedelta(0):
        example = f"{name}='30D'" if name == "lookback" else f"{name}='7D'"
        raise ConfigurationError(
            f"{name} must be a positive duration such as '30D', '12h' or pandas.Timedelta(days=7)"
            f"{' or None' if allow_none else ''}; got {value!r}. Example: {example}"
        )
    return delta
