"""Aggregated path tables: parse them into `Journeys`, and write them back out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causality._validation import raise_for_rows
from causality.errors import ConfigurationError, JourneyValidationError
from causality.journeys.core import DEFAULT_SEP, Journeys


def journeys_from_paths(
    df: pd.DataFrame,
    *,
    path: str = "path",
    conversions: str = "conversions",
    value: str | None = "value",
    nulls: str | None = "nulls",
    sep: str = DEFAULT_SEP,
) -> Journeys:
    """Build journeys from a path table; see `Journeys.from_paths` for the contract."""
    if not isinstance(df, pd.DataFrame):
        raise JourneyValidationError(
            f"the path table must be a pandas DataFrame; got {type(df).__name__}. Fix: read it "
            "with pandas.read_csv (note sep=';' for ChannelAttribution's Data.csv)."
        )
    if not isinstance(sep, str) or not sep.strip():
        raise ConfigurationError(f"sep must be a non-blank string such as ' > '; got {sep!r}")
    available = list(map(str, df.columns))
    for role, column in (("path", path), ("conversions", conversions)):
        if column not in df.columns:
            hint = " (ChannelAttribution's Data.csv calls it 'total_conversions')" * (
                role == "conversions"
            )
            raise JourneyValidationError(
                f"missing column {column!r} (the {role} of each path){hint}. Fix: pass "
                f"{role}='your_column'. Available: {available}"
            )
    if len(df) == 0:
        raise JourneyValidationError(
            "the path table is empty: there is nothing to attribute. Fix: pass a table with at "
            "least one path row."
        )

    for role, column, default in (("value", value, "value"), ("nulls", nulls, "nulls")):
        # The default names are optional; a name the caller chose must exist.
        if column is not None and column != default and column not in df.columns:
            raise JourneyValidationError(
                f"missing column {column!r} ({role}). Fix: pass {role}='your_column', or "
                f"{role}=None if the table has none. Available: {available}"
            )
    conv = _counts(df, conversions, "conversions")
    if value is not None and value in df.columns:
        val = _counts(df, value, "value")
    else:
        val = conv.copy()  # no value column: every conversion is worth 1
    if nulls is not None and nulls in df.columns:
        null = _counts(df, nulls, "nulls")
    else:
        null = np.zeros(len(df))

    # Positions, not labels, tie tokens to rows: the index may repeat (concatenated tables).
    text = df[path].astype("string").fillna("").reset_index(drop=True)
    tokens = text.str.split(sep, regex=False).explode().str.strip()
    row = tokens.index.to_numpy()
    present = tokens.notna().to_numpy() & (tokens != "").to_numpy(dtype=bool, na_value=False)
    touches_per_row = np.bincount(row[present], minlength=len(df))
    empty_row = touches_per_row == 0
    raise_for_rows(
        df,
        empty_row & (null > 0) & (conv == 0),
        column=path,
        rule="rows with an empty path but non-converting journeys",
        fix="drop those rows: a journey without touches cannot be attributed",
        show=[path, nulls],
    )
    codes, names = pd.factorize(tokens[present].to_numpy(dtype=object), sort=True)
    keep = ~empty_row
    return Journeys(
        channels=[str(n) for n in names],
        codes=codes,
        offsets=np.concatenate([[0], np.cumsum(touches_per_row[keep])]),
        conversions=conv[keep],
        value=val[keep],
        nulls=null[keep],
        unattributed_conversions=float(conv[empty_row].sum()),
        unattributed_value=float(val[empty_row].sum()),
    )


def _counts(df: pd.DataFrame, column: str, role: str) -> np.ndarray:
    numeric = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    raise_for_rows(
        df,
        ~np.isfinite(numeric),
        column=column,
        rule=f"{role} that are missing or not numbers",
        fix=f"fill {role} with 0 or drop those rows",
        show=[column],
    )
    raise_for_rows(
        df,
        numeric < 0,
        column=column,
        rule=f"negative {role}",
        fix=f"{role} must be counts (or revenue) >= 0",
        show=[column],
    )
    return numeric


def join_paths(journeys: Journeys, *, sep: str = DEFAULT_SEP) -> np.ndarray:
    """Join each record's channel names with ``sep`` into one string per record."""
    bad = [c for c in journeys.channels if sep in c]
    if bad:
        raise JourneyValidationError(
            f"channel names contain the separator {sep!r}: {bad[:5]}. Fix: pass another sep= "
            "(e.g. sep=' | ') or rename those channels."
        )
    names = np.asarray(journeys.channels, dtype=object)
    touch_names = pd.Series(names[journeys.codes], dtype=object)
    joined = touch_names.groupby(journeys.record_of_touch(), sort=True).agg(sep.join)
    return joined.to_numpy(dtype=object)
