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

    row, codes, names = _split_paths(df[path], sep)
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
    keep = ~empty_row
    return Journeys(
        channels=names,
        codes=codes,
        offsets=np.concatenate([[0], np.cumsum(touches_per_row[keep])]),
        conversions=conv[keep],
        value=val[keep],
        nulls=null[keep],
        unattributed_conversions=float(conv[empty_row].sum()),
        unattributed_value=float(val[empty_row].sum()),
    )


def _split_paths(paths: pd.Series, sep: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Row position, channel code and channel names of every touch (Arrow kernels).

    Blank names are dropped and names are trimmed. Trimming and sorting work on the
    dictionary of distinct raw tokens (a few dozen), not on the millions of touches.
    """
    text = pa.array(paths, from_pandas=True)
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = pa.array(paths.astype("string"), from_pandas=True)
    if isinstance(text, pa.ChunkedArray):  # pandas' Arrow-backed strings come chunked
        text = text.combine_chunks()
    lists = pc.split_pattern(pc.fill_null(text, ""), pattern=sep)
    row = np.repeat(
        np.arange(len(text)), pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    )
    encoded = pc.dictionary_encode(lists.flatten())
    raw_names = np.asarray(pc.utf8_trim_whitespace(encoded.dictionary).to_pylist(), dtype=object)
    names, name_code = np.unique(raw_names, return_inverse=True)
    raw_code = encoded.indices.to_numpy(zero_copy_only=False)
    present = (raw_names != "")[raw_code]
    codes = name_code.astype(np.int32)[raw_code[present]]
    blank = np.flatnonzero(names == "")
    if len(blank):  # the blank name sorts first: shift the others down over it
        names = names[1:]
        codes -= 1
    return row[present], codes, [str(n) for n in names]


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
