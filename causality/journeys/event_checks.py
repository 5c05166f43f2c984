"""Validate an event log inside a SQL engine with the pandas path's rules, messages and order.

The DuckDB and Spark paths first normalise the raw columns into the same internal
columns (``__c_t``, ``__c_conv``, ``__c_uid``, ...; see `causality.journeys.duckdb_sql`
and `causality.spark.columns`). One grouped scan then counts every problem with
`CHECK_AGGREGATES`, whose SQL both engines understand, and `check_groups` turns
those counts into the first error the pandas path (`causality.journeys.events`)
would raise, fetching the first offending rows only then, through a callback.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causality._validation import N_SHOWN_ROWS
from causality.errors import DataWarning, JourneyValidationError
from causality.journeys.events import IDENTITY_EVENT_TYPES
from causality.journeys.schema import EventSchema, literal

_INFINITE = "__c_value IN (CAST('Infinity' AS DOUBLE), CAST('-Infinity' AS DOUBLE))"

#: Aggregates over the internal columns, grouped by event type and touch channel.
CHECK_AGGREGATES: tuple[tuple[str, str], ...] = (
    ("is_touch", "bool_or(__c_touch)"),
    ("is_conversion", "bool_or(__c_conv)"),
    ("n", "count(*)"),
    ("ts_missing", "count_if(__c_ts_null)"),
    ("ts_unparsed", "count_if(__c_t IS NULL AND NOT __c_ts_null)"),
    ("no_id", "count_if(__c_uid IS NULL AND __c_aid IS NULL)"),
    ("value_not_number", "count_if(__c_value_not_number)"),
    ("value_missing", "count_if(__c_value_missing)"),
    ("value_infinite", f"count_if({_INFINITE})"),
    ("value_negative", "count_if(__c_value < 0)"),
    ("offline_bad", "count_if(__c_offline_bad)"),
    ("t_min", "min(__c_t)"),
    ("t_max", "max(__c_t)"),
)
#: The grouping columns: the event type, and the channel of touch rows.
CHECK_GROUPS = (("kind", "__c_kind"), ("channel", "CASE WHEN __c_touch THEN __c_channel END"))

#: fetch_rows(condition, show) -> the first offending rows, indexed by input row.
RowFetcher = Callable[[str, tuple[str, ...]], pd.DataFrame]

_NUMBERS_MESSAGE = (
    "column {c!r} holds numbers ({t}), not timestamps: their unit is ambiguous. Fix: convert "
    "first, e.g. events[{c!r}] = pd.to_datetime(events[{c!r}], unit='s', utc=True)."
)


def null_aggregates(null_counted: list[int]) -> tuple[tuple[str, str], ...]:
    """NULL counts of the extra columns whose pandas dtype depends on them."""
    return tuple((f"nulls_{i}", f"count_if(__c_x{i} IS NULL)") for i in null_counted)


@dataclass(frozen=True)
class CheckedEvents:
    """What the checks learnt on the way: channels, time span, sizes, NULLs of extras."""

    channels: list[str]
    window: tuple[pd.Timestamp, pd.Timestamp]
    n_kept: int
    extra_nulls: dict[int, int]


@dataclass(frozen=True)
class _Rule:
    count: str  # column of the checks table
    scope: str  # "all", "touch" or "conversion" rows
    condition: str  # SQL over the internal columns, for the offending rows
    column: str
    rule: str
    fix: str
    show: tuple[str, ...]


def refuse_numeric_timestamps(schema: EventSchema) -> None:
    """Numbers as timestamps are refused before any scan (their unit is ambiguous)."""
    if schema.family(schema.timestamp) in ("integer", "float", "number"):
        raise JourneyValidationError(
            _NUMBERS_MESSAGE.format(c=schema.timestamp, t=schema.types[schema.timestamp])
        )


def check_groups(
    groups: pd.DataFrame, schema: EventSchema, null_counted: list[int], fetch_rows: RowFetcher
) -> CheckedEvents:
    """Raise `JourneyValidationError` for the first broken rule; warn about ignored types.

    ``groups`` holds `CHECK_AGGREGATES` per `CHECK_GROUPS` (one row per event type
    and touch channel).
    """
    if groups.empty or int(groups["n"].sum()) == 0:
        raise JourneyValidationError(
            "events is empty: there is nothing to attribute. Fix: pass an event log with touch "
            "and conversion rows."
        )
    touch = groups["is_touch"].fillna(False).to_numpy(dtype=bool)
    conv = groups["is_conversion"].fillna(False).to_numpy(dtype=bool)
    _warn_other_types(groups[~touch & ~conv], schema.event_type)

    channels, blank = _touch_channels(schema, groups[touch])
    unnamed = (groups["channel"].isna() | groups["channel"].isin(blank)).to_numpy(dtype=bool)
    groups = groups.assign(channel_missing=np.where(touch & unnamed, groups["n"], 0))
    for rule in _rules(schema, blank):
        scope = {"all": slice(None), "touch": touch, "conversion": conv}[rule.scope]
        count = int(groups.loc[scope, rule.count].sum())
        if count:
            _raise_for(rule, count, fetch_rows(rule.condition, rule.show))
    if not conv.any():
        found = sorted(str(k) for k in groups["kind"].dropna().unique())[:10]
        raise JourneyValidationError(
            f"no conversions: no row has {schema.event_type!r} in "
            f"{sorted(schema.conversion_types)}, so there is nothing to attribute. Fix: pass "
            f"conversion_types=[...] naming your conversion event types (found: {found})."
        )
    used = groups[touch | conv]
    window = (
        pd.Timestamp(int(used["t_min"].min()), tz="UTC"),
        pd.Timestamp(int(used["t_max"].max()), tz="UTC"),
    )
    nulls = {i: int(groups[f"nulls_{i}"].sum()) for i in null_counted}
    return CheckedEvents(channels, window, int(used["n"].sum()), nulls)


def conflict_warning(conflicts: int) -> None:
    """The pandas path's warning about anonymous ids linked to several users."""
    if conflicts:
        warnings.warn(
            f"{conflicts:,} anonymous ids are linked to more than one user id; each was "
            "assigned to the first user it was linked to (user ids are never merged).",
            DataWarning,
            stacklevel=_caller_outside_causality(),
        )


def _caller_outside_causality() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this package."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("causality."):
        frame, level = frame.f_back, level + 1
    return level


def _touch_channels(schema: EventSchema, touch_groups: pd.DataFrame) -> tuple[list[str], list]:
    """Sorted channel names of touch rows, and the blank names (refused like missing ones)."""
    if schema.channel is None:
        if len(touch_groups):
            raise JourneyValidationError(
                f"missing column 'channel': touch events need a channel. Fix: pass "
                f"channel='your_column'. Available: {list(schema.types)}"
            )
        return [], []
    labels = sorted({str(c) for c in touch_groups["channel"].dropna()})
    return [c for c in labels if c.strip()], [c for c in labels if not c.strip()]


def _rules(schema: EventSchema, blank_channels: list[str]) -> list[_Rule]:
    ts, kind, value = schema.timestamp, schema.event_type, schema.value
    ids = [c for c in (schema.user, schema.anonymous) if c is not None]
    user_name = schema.user or "user_id"
    anon_name = schema.anonymous or "anonymous_id"
    blank = " OR __c_channel IN (" + ", ".join(map(literal, blank_channels)) + ")"
    rules = [
        _Rule("ts_missing", "all", "__c_ts_null", ts, "missing timestamps",
              "fill or drop events without a timestamp", (ts,)),
        _Rule("ts_unparsed", "all", "__c_t IS NULL AND NOT __c_ts_null", ts,
              "timestamps that could not be parsed",
              "use ISO 8601 text such as '2024-05-01T12:30:00Z', or convert with pd.to_datetime",
              (ts,)),
        _Rule("no_id", "all", "__c_uid IS NULL AND __c_aid IS NULL", f"{user_name}/{anon_name}",
              "events with neither a user id nor an anonymous id",
              "drop those events or fill an id for them", tuple(ids)),
    ]  # fmt: skip
    if schema.channel is not None:
        rules.append(
            _Rule("channel_missing", "touch",
                  f"__c_touch AND (__c_channel IS NULL{blank if blank_channels else ''})",
                  schema.channel, "touch events with an empty or missing channel",
                  "fill the channel (e.g. 'Unknown') or drop those rows before building journeys",
                  (schema.channel,))
        )  # fmt: skip
    if value is not None:
        show = (kind, value)
        rules += [
            _Rule("value_not_number", "conversion", "__c_conv AND __c_value_not_number", value,
                  "conversion values that are not numbers",
                  "convert the column to numbers (e.g. strip currency symbols)", show),
            _Rule("value_missing", "conversion", "__c_conv AND __c_value_missing", value,
                  "conversions with a missing value",
                  "fill missing conversion values (e.g. with 0 or 1) or drop the value column to "
                  "count every conversion as 1", show),
            _Rule("value_infinite", "conversion", f"__c_conv AND {_INFINITE}", value,
                  "infinite conversion values", "replace infinite values with the real revenue",
                  show),
            _Rule("value_negative", "conversion", "__c_conv AND __c_value < 0", value,
                  "negative conversion values",
                  "model refunds as separate adjustments, or clip values at 0", show),
        ]  # fmt: skip
    if schema.offline is not None:
        rules.append(
            _Rule("offline_bad", "all", "__c_offline_bad", schema.offline,
                  "values that are not booleans (True/False)",
                  "use True for offline conversions (CRM, store, phone) and False otherwise",
                  (schema.offline,))
        )  # fmt: skip
    return rules


def _raise_for(rule: _Rule, count: int, shown: pd.DataFrame) -> None:
    shown = shown.head(N_SHOWN_ROWS)
    noun = "row" if count == 1 else "rows"
    raise JourneyValidationError(
        f"column {rule.column!r}: {rule.rule} in {count:,} {noun}; first {len(shown)}:\n"
        f"{shown.to_string()}\nFix: {rule.fix}"
    )


def _warn_other_types(other: pd.DataFrame, event_type: str) -> None:
    counts: dict[Any, int] = {}
    for kind, n in zip(other["kind"], other["n"], strict=True):
        key = None if pd.isna(kind) else str(kind)
        if key not in IDENTITY_EVENT_TYPES:
            counts[key] = counts.get(key, 0) + int(n)
    if not counts:
        return
    top = sorted(counts.items(), key=lambda item: -item[1])[:5]
    shown = ", ".join(f"{'<missing>' if k is None else k!r}: {n:,}" for k, n in top)
    warnings.warn(
        f"ignored {sum(counts.values()):,} events whose {event_type!r} is neither a touch nor a "
        f"conversion type ({shown}); they serve identity stitching only. Pass "
        "touch_types=/conversion_types= to use them.",
        DataWarning,
        stacklevel=_caller_outside_causality(),
    )
