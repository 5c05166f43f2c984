"""Aggregated path tables: parse them into `Journeys`, and write them back out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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

    row, tokens = _split_paths(df[path], sep)
    touches_per_row = np.bincount(row, minlength=len(df))
    empty_row = touches_per_row == 0
    raise_for_rows(
        df,
        empty_row & (null > 0) & (conv == 0),
        column=path,
        rule="rows with an empty path but non-converting journeys",
        fix="drop those rows: a journey without touches cannot be attributed",
        show=[path, nulls],
    )
    codes, names = _sorted_codes(tokens)
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


def _split_paths(paths: pd.Series, sep: str) -> tuple[np.ndarray, pa.Array]:
    """Row position and channel name of every touch, blank names dropped (Arrow kernels)."""
    text = pa.array(
        paths.astype("string").fillna("").to_numpy(dtype=object), type=pa.large_string()
    )
    lists = pc.split_pattern(text, pattern=sep)
    row = np.repeat(
        np.arange(len(text)), pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    )
    tokens = pc.utf8_trim_whitespace(lists.flatten())
    present = pc.not_equal(tokens, "").to_numpy(zero_copy_only=False)
    return row[present], tokens.filter(pa.array(present))


def _sorted_codes(tokens: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Integer codes of channel names, numbered in sorted name order."""
    encoded = (
        pc.dictionary_encode(tokens).combine_chunks()
        if isinstance(tokens, pa.ChunkedArray)
        else pc.dictionary_encode(tokens)
    )
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype=np.int32)
    rank[order] = np.arange(len(names), dtype=np.int32)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, [str(n) for n in names[order]]


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
