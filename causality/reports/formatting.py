"""Number formats shared by the HTML and PDF renderers (plain text; escaping is theirs)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

#: Readable names of the diagnostics built-in models report; others show their own name.
DIAGNOSTIC_LABELS = {
    "n_bootstrap": "bootstrap replicates",
    "n_records": "records (distinct journeys or paths)",
    "n_draws_total": "posterior draws",
    "r_hat_max": "largest r-hat",
    "ess_bulk_min": "smallest bulk ESS",
    "ess_tail_min": "smallest tail ESS",
    "divergences": "divergent transitions",
    "n_states": "chain states",
    "n_coalitions": "coalitions",
    "largest_coalition": "largest coalition (channels)",
    "negative_credit_channels": "channels with negative credit",
}


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, decimals: int = 1) -> str:
    """``value`` with thousands separators, or an em dash when missing.

    Examples
    --------
    >>> number(1234.567), number(float("nan")), number(3, 0)
    ('1,234.6', '—', '3')
    """
    if is_missing(value):
        return "—"
    return f"{float(value):,.{decimals}f}"


def count(value: Any) -> str:
    """A count: no decimals when whole (journeys from events), one otherwise (weighted tables).

    Examples
    --------
    >>> count(1201.0), count(12.25)
    ('1,201', '12.2')
    """
    if is_missing(value):
        return "—"
    return number(value, 0 if float(value).is_integer() else 1)


def percent(value: Any, decimals: int = 1) -> str:
    """A fraction as a percentage, e.g. ``0.1234 -> '12.3%'``; an em dash when missing."""
    if is_missing(value):
        return "—"
    return f"{float(value):.{decimals}%}"


def interval(lower: Any, upper: Any, decimals: int = 1) -> str:
    """``'[lower, upper]'``, or an em dash when either end is missing."""
    if is_missing(lower) or is_missing(upper):
        return "—"
    return f"[{number(lower, decimals)}, {number(upper, decimals)}]"


def diagnostic(value: Any) -> str:
    """A diagnostic value for people: integers exact, floats to 4 significant digits.

    Examples
    --------
    >>> diagnostic(200), diagnostic(1.0669833), diagnostic(True), diagnostic(0.463)
    ('200', '1.067', 'yes', '0.463')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:,.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:,.4g}"
    if value is None:
        return "—"
    return str(value)


def period(start: str | None, end: str | None, n_days: int | None) -> tuple[str, str]:
    """The data window as (length, dates), e.g. ``('91 days', '2024-04-01 to 2024-06-30')``."""
    if start is None or end is None:
        return "—", "no timestamps (path table)"
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    return f"{n_days:,} days", f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
