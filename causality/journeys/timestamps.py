"""Parse event timestamps into UTC nanoseconds, with errors that show the bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causality._validation import raise_for_rows
from causality.errors import JourneyValidationError


def parse_timestamps(events: pd.DataFrame, column: str) -> np.ndarray:
    """Return the timestamps of ``events[column]`` as ``datetime64[ns]`` in UTC.

    Timezone-aware values are converted to UTC; naive values are taken as UTC;
    strings are parsed (ISO 8601 fast path, then mixed formats). Numbers are
    refused because their unit (seconds? milliseconds?) is ambiguous.
    """
    raw = events[column]
    dtype = raw.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = raw
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        raise JourneyValidationError(
            f"column {column!r} holds numbers ({dtype}), not timestamps: their unit is ambiguous. "
            f"Fix: convert first, e.g. events[{column!r}] = pd.to_datetime(events[{column!r}], "
            "unit='s', utc=True)."
        )
    elif pd.api.types.infer_dtype(raw, skipna=True) in _NUMERIC_INFERRED:
        raise JourneyValidationError(
            f"column {column!r} holds numbers, not timestamps: their unit is ambiguous. "
            f"Fix: convert first, e.g. events[{column!r}] = pd.to_datetime(events[{column!r}], "
            "unit='s', utc=True)."
        )
    else:
        _refuse_numbers_among_text(events, raw, column)
        parsed = _parse_text(raw)
    values = parsed.to_numpy(dtype="datetime64[ns]")
    missing = np.isnat(values)
    raise_for_rows(
        events,
        missing & raw.isna().to_numpy(),
        column=column,
        rule="missing timestamps",
        fix="fill or drop events without a timestamp",
        show=[column],
    )
    raise_for_rows(
        events,
        missing,
        column=column,
        rule="timestamps that could not be parsed",
        fix="use ISO 8601 text such as '2024-05-01T12:30:00Z', or convert with pd.to_datetime",
        show=[column],
    )
    return values


_NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})


def _refuse_numbers_among_text(events: pd.DataFrame, raw: pd.Series, column: str) -> None:
    if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "datetime", "date"):
        return
    # A mixed object column: only here is a per-value type check needed.
    is_number = raw.map(
        lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool) and v == v
    ).to_numpy(dtype=bool)
    raise_for_rows(
        events,
        is_number,
        column=column,
        rule="numbers among text timestamps (ambiguous unit)",
        fix="convert numbers with pd.to_datetime(..., unit='s', utc=True) before building journeys",
        show=[column],
    )


def _parse_text(raw: pd.Series) -> pd.Series:
    try:
        return pd.to_datetime(raw, utc=True, format="ISO8601").dt.tz_localize(None)
    except (ValueError, TypeError):
        pass
    try:
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):
        parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    return parsed.dt.tz_localize(None)
