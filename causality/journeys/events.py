"""Build `Journeys` from a long event log: validation, identity stitching, journey windows."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from causality._validation import raise_for_rows, to_timedelta
from causality.errors import ConfigurationError, DataWarning, JourneyValidationError
from causality.journeys.core import Journeys
from causality.journeys.identity import stitch_identities
from causality.journeys.labels import codes_in, factorize_labels
from causality.journeys.timestamps import parse_timestamps

#: Event types that only link identities; they are dropped without a warning.
IDENTITY_EVENT_TYPES = frozenset({"identify", "alias", "login"})


def journeys_from_events(
    events: pd.DataFrame,
    *,
    user: str = "user_id",
    anonymous: str = "anonymous_id",
    timestamp: str = "timestamp",
    event_type: str = "event_type",
    channel: str = "channel",
    value: str = "value",
    offline: str = "offline",
    lookback: str | pd.Timedelta | None = "30D",
    conversion_types: Sequence[str] = ("conversion",),
    touch_types: Sequence[str] = ("touch",),
) -> Journeys:
    """Build journeys from an event log; see `Journeys.from_events` for the full contract."""
    if not isinstance(events, pd.DataFrame):
        raise JourneyValidationError(
            f"events must be a pandas DataFrame, a Parquet/CSV path or glob, a pyarrow Table "
            f"or a DuckDB relation, one row per event; got {type(events).__name__}. Fix: pass "
            "the file's path (built in DuckDB: pip install 'causality[duckdb]') or read it "
            "with ca.io.read_table(path) first."
        )
    lookback_delta = to_timedelta("lookback", lookback, allow_none=True)
    conversion_types = _type_set("conversion_types", conversion_types)
    touch_types = _type_set("touch_types", touch_types)
    if conversion_types & touch_types:
        raise ConfigurationError(
            f"conversion_types and touch_types overlap: {sorted(conversion_types & touch_types)}"
        )
    roles = {
        "user": user,
        "anonymous": anonymous,
        "timestamp": timestamp,
        "event_type": event_type,
        "channel": channel,
        "value": value,
        "offline": offline,
    }
    _check_columns(events, roles)
    if len(events) == 0:
        raise JourneyValidationError(
            "events is empty: there is nothing to attribute. Fix: pass an event log with touch "
            "and conversion rows."
        )

    kind_codes, kind_labels = factorize_labels(events[event_type])
    is_touch = codes_in(kind_codes, kind_labels, touch_types)
    is_conv = codes_in(kind_codes, kind_labels, conversion_types)
    _warn_other_event_types(kind_codes, kind_labels, is_touch | is_conv, event_type)

    times = parse_timestamps(events, timestamp)
    person, person_labels = stitch_identities(events, user=user, anonymous=anonymous, times=times)

    channel_codes, channel_names = _touch_channels(events, channel, is_touch)
    conv_value = _conversion_values(events, value, is_conv, event_type)
    offline_flag = _offline_flags(events, offline, is_conv)

    if not is_conv.any():
        raise JourneyValidationError(
            f"no conversions: no row has {event_type!r} in {sorted(conversion_types)}, so there "
            f"is nothing to attribute. Fix: pass conversion_types=[...] naming your conversion "
            f"event types (found: {sorted(kind_labels.tolist())[:10]})."
        )
    keep = np.flatnonzero(is_touch | is_conv)
    order = _person_time_order(keep, person, times)
    del keep
    seg = _segments(order, person, times, is_conv, lookback_delta)
    kept_rows = order[seg.in_window]
    del order
    touches_per_segment = np.bincount(
        seg.segment[seg.in_window], minlength=len(seg.last_row)
    ).astype(np.int64)
    converts = is_conv[seg.last_row]
    seg_value = conv_value[seg.last_row]
    unattributed = converts & (touches_per_segment == 0)
    journey = np.flatnonzero(touches_per_segment > 0)
    offsets = np.concatenate([[0], np.cumsum(touches_per_segment[journey])])

    first_touch = kept_rows[offsets[:-1]]
    converted = converts[journey]
    attributes = _journey_attributes(
        events,
        roles,
        first_touch,
        person_labels[person[first_touch]],
        offline_flag[seg.last_row[journey]] & converted,
    )
    journey_times = times[kept_rows]
    return Journeys(
        channels=channel_names,
        codes=channel_codes[kept_rows],
        offsets=offsets,
        conversions=converted.astype(np.float64),
        value=np.where(converted, seg_value[journey], 0.0),
        nulls=(~converted).astype(np.float64),
        times=journey_times,
        conversion_times=times[seg.last_row[journey]],
        attributes=attributes,
        unattributed_conversions=float(unattributed.sum()),
        unattributed_value=float(seg_value[unattributed].sum()),
        window=seg.window,
        lookback=lookback_delta,
    )


def _person_time_order(keep: np.ndarray, person: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Rows of ``keep`` sorted by person, then time; ties keep input order.

    Both sorts are stable. Logs already in time order, the common case, skip the
    first sort.
    """
    kept_times = times[keep]
    if len(keep) > 1 and not np.all(kept_times[1:] >= kept_times[:-1]):
        keep = keep[np.argsort(kept_times, kind="stable")]
    del kept_times
    return keep[np.argsort(person[keep], kind="stable")]


def segment_ids(person: np.ndarray, is_conv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment id of each row of events sorted by (person, time), and each segment's last row.

    A new segment starts at a new person and after every conversion.

    Examples
    --------
    >>> segment, last = segment_ids(np.array([0, 0, 0, 1]), np.array([False, True, False, False]))
    >>> segment.tolist(), last.tolist()
    ([0, 0, 1, 2], [1, 2, 3])
    """
    new_segment = np.empty(len(person), dtype=bool)
    new_segment[:1] = True
    new_segment[1:] = (person[1:] != person[:-1]) | is_conv[:-1]
    segment = np.cumsum(new_segment, dtype=np.int64) - 1
    last_sorted = np.append(np.flatnonzero(new_segment)[1:], len(person)) - 1
    return segment, last_sorted


class _Segments(NamedTuple):
    segment: np.ndarray  # segment id of every sorted row
    last_row: np.ndarray  # input row ending each segment: its conversion, or its last touch
    in_window: np.ndarray  # sorted rows that are touches inside their segment's lookback
    window: tuple[pd.Timestamp, pd.Timestamp]


def _segments(
    order: np.ndarray,
    person: np.ndarray,
    times: np.ndarray,
    is_conv: np.ndarray,
    lookback: pd.Timedelta | None,
) -> _Segments:
    """Cut each person's time-ordered events after every conversion.

    A segment is the events after a person's previous conversion up to and
    including the next one (or up to their last event). Its reference time is its
    last event: the conversion, or the last touch of a non-converting segment.
    """
    conv = is_conv[order]
    segment, last_sorted = segment_ids(person[order], conv)
    t = times[order].view(np.int64)
    window = (pd.Timestamp(int(t.min()), tz="UTC"), pd.Timestamp(int(t.max()), tz="UTC"))
    if lookback is None:
        in_window = ~conv
    else:
        start = t[last_sorted] - lookback.value
        in_window = ~conv & (t >= start[segment])
    return _Segments(segment, order[last_sorted], in_window, window)


def _type_set(name: str, types: Sequence[str]) -> frozenset[str]:
    if isinstance(types, str):
        types = (types,)
    try:
        out = frozenset(str(t) for t in types)
    except TypeError:
        out = frozenset()
    if not out:
        raise ConfigurationError(f"{name} must name at least one event type, e.g. ('conversion',)")
    return out


_OPTIONAL_DEFAULTS = {
    "user": "user_id",
    "anonymous": "anonymous_id",
    "channel": "channel",
    "value": "value",
    "offline": "offline",
}


def _check_columns(events: pd.DataFrame, roles: dict[str, str]) -> None:
    available = list(map(str, events.columns))
    for role in ("timestamp", "event_type"):
        if roles[role] not in events.columns:
            raise JourneyValidationError(
                f"missing column {roles[role]!r} (the {role} of each event). Fix: rename your "
                f"column to {roles[role]!r} or pass {role}='your_column'. Available: {available}"
            )
    for role, default in _OPTIONAL_DEFAULTS.items():
        # Optional columns may be absent under their default names; a chosen name must exist.
        if roles[role] != default and roles[role] not in events.columns:
            raise JourneyValidationError(
                f"missing column {roles[role]!r}, passed as {role}=. Fix: check the spelling, "
                f"or leave {role} at its default. Available: {available}"
            )
    if roles["user"] not in events.columns and roles["anonymous"] not in events.columns:
        raise JourneyValidationError(
            f"missing both {roles['user']!r} and {roles['anonymous']!r}: each event needs a user "
            f"id or an anonymous id. Fix: pass user='your_column' (and/or anonymous=...). "
            f"Available: {available}"
        )


def _warn_other_event_types(
    codes: np.ndarray, labels: np.ndarray, used: np.ndarray, event_type: str
) -> None:
    other = ~used & ~codes_in(codes, labels, IDENTITY_EVENT_TYPES)
    if other.any():
        counts = np.bincount(codes[other] + 1, minlength=len(labels) + 1)
        names = np.concatenate([["<missing>"], labels])
        top = np.argsort(-counts, kind="stable")[:5]
        shown = ", ".join(f"{names[i]!r}: {counts[i]:,}" for i in top if counts[i])
        warnings.warn(
            f"ignored {int(other.sum()):,} events whose {event_type!r} is neither a touch nor a "
            f"conversion type ({shown}); they serve identity stitching only. Pass "
            "touch_types=/conversion_types= to use them.",
            DataWarning,
            stacklevel=4,
        )


def _touch_channels(
    events: pd.DataFrame, channel: str, is_touch: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Channel code per row (-1 off touch rows), codes ordered by sorted channel name."""
    if channel not in events.columns:
        if is_touch.any():
            raise JourneyValidationError(
                f"missing column {channel!r}: touch events need a channel. Fix: pass "
                f"channel='your_column'. Available: {list(map(str, events.columns))}"
            )
        return np.full(len(events), -1, dtype=np.int32), []
    codes, labels = factorize_labels(events[channel])
    blank = np.flatnonzero(np.char.strip(labels.astype(str)) == "") if len(labels) else []
    missing = is_touch & ((codes < 0) | np.isin(codes, blank))
    raise_for_rows(
        events,
        missing,
        column=channel,
        rule="touch events with an empty or missing channel",
        fix="fill the channel (e.g. 'Unknown') or drop those rows before building journeys",
        show=[channel],
    )
    used = np.unique(codes[is_touch])
    names = labels[used]
    rank = np.empty(len(used), dtype=np.int32)
    rank[np.argsort(names, kind="stable")] = np.arange(len(used), dtype=np.int32)
    remap = np.full(len(labels) + 1, -1, dtype=np.int32)
    remap[used] = rank
    out = np.where(is_touch, remap[codes], -1).astype(np.int32)
    return out, sorted(str(n) for n in names)


def _conversion_values(
    events: pd.DataFrame, value: str, is_conv: np.ndarray, event_type: str
) -> np.ndarray:
    if value not in events.columns:
        return np.where(is_conv, 1.0, 0.0)
    raw = events[value]
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad_text = is_conv & np.isnan(numeric) & raw.notna().to_numpy()
    raise_for_rows(
        events,
        bad_text,
        column=value,
        rule="conversion values that are not numbers",
        fix="convert the column to numbers (e.g. strip currency symbols)",
        show=[event_type, value],
    )
    raise_for_rows(
        events,
        is_conv & np.isnan(numeric),
        column=value,
        rule="conversions with a missing value",
        fix="fill missing conversion values (e.g. with 0 or 1) or drop the value column to count "
        "every conversion as 1",
        show=[event_type, value],
    )
    raise_for_rows(
        events,
        is_conv & ~np.isfinite(numeric),
        column=value,
        rule="infinite conversion values",
        fix="replace infinite values with the real revenue",
        show=[event_type, value],
    )
    raise_for_rows(
        events,
        is_conv & (numeric < 0),
        column=value,
        rule="negative conversion values",
        fix="model refunds as separate adjustments, or clip values at 0",
        show=[event_type, value],
    )
    return np.where(is_conv, numeric, 0.0)


def _offline_flags(events: pd.DataFrame, offline: str, is_conv: np.ndarray) -> np.ndarray:
    if offline not in events.columns:
        return np.zeros(len(events), dtype=bool)
    col = events[offline]
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.fillna(False).to_numpy(dtype=bool)
    text = col.astype("string").str.strip().str.lower()
    mapped = text.map(_BOOLEAN_WORDS)
    raise_for_rows(
        events,
        (text.notna() & mapped.isna()).to_numpy(dtype=bool),
        column=offline,
        rule="values that are not booleans (True/False)",
        fix="use True for offline conversions (CRM, store, phone) and False otherwise",
        show=[offline],
    )
    return mapped.fillna(False).to_numpy(dtype=bool)


_BOOLEAN_WORDS = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
    "yes": True,
    "no": False,
    "t": True,
    "f": False,
}


def _journey_attributes(
    events: pd.DataFrame,
    roles: dict[str, str],
    first_touch: np.ndarray,
    users: np.ndarray,
    offline: np.ndarray,
) -> pd.DataFrame:
    """Per-journey attributes: the user, the offline flag and every extra column."""
    mapped = set(roles.values())
    extra = [c for c in events.columns if c not in mapped]
    attributes = pd.DataFrame({"user": users, "offline": offline})
    if extra:
        kept = events[extra].iloc[first_touch].reset_index(drop=True)
        clash = [c for c in extra if c in attributes.columns]
        kept = kept.rename(columns={c: f"{c}_attribute" for c in clash})
        attributes = pd.concat([attributes, kept], axis=1)
    return attributes
