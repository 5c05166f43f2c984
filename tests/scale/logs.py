"""Random event logs (hypothesis) and an exact comparison of two `Journeys`."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import strategies as st

import causality as ca
from causality.errors import DataWarning

T0 = pd.Timestamp("2024-01-01")
# Names that need quoting in SQL and that sort differently by bytes and by case.
CHANNELS = ("Paid Search", "email", "Display", "x'y", "Ünï")
# (user_id, anonymous_id): user-only, anonymous-only, linking rows (conflicts included) and
# blank anonymous ids, which count as missing.
IDENTITIES = (
    ("u1", None),
    ("u2", None),
    ("U3", None),
    (None, "a1"),
    (None, "a2"),
    (None, "b3"),
    ("u1", "a1"),
    ("u2", "a1"),
    ("U3", "a2"),
    ("u2", " "),
)
KINDS = ("touch", "touch", "touch", "conversion", "purchase", "identify", "page_view")
LOOKBACKS = (None, "1D", "36h", "3D")

event_row = st.tuples(
    st.sampled_from(IDENTITIES),
    st.integers(0, 96),  # hours: a narrow range, so equal timestamps are common
    st.sampled_from(KINDS),
    st.sampled_from(CHANNELS),
    st.sampled_from([0.0, 1.0, 2.5, 40.0, 1e-3]),
    st.booleans(),  # offline flag of a conversion
    st.sampled_from(["mobile", "desktop", "tablet"]),
)


@st.composite
def event_logs(draw, max_size: int = 24) -> tuple[pa.Table, dict]:
    """An Arrow event log and the `from_events` keywords to read it with."""
    rows = draw(st.lists(event_row, min_size=1, max_size=max_size))
    conversion_types = draw(st.sampled_from([("conversion",), ("conversion", "purchase")]))
    if not any(row[2] in conversion_types for row in rows):
        index = draw(st.integers(0, len(rows) - 1))
        rows[index] = (*rows[index][:2], "conversion", *rows[index][3:])
    stamps = [T0 + pd.Timedelta(hours=row[1]) for row in rows]
    clock = draw(st.sampled_from(["naive", "utc", "paris", "iso_z", "iso_offset"]))
    converting = [row[2] in conversion_types for row in rows]
    frame = pd.DataFrame(
        {
            "user_id": [row[0][0] for row in rows],
            "anonymous_id": [row[0][1] for row in rows],
            "timestamp": _clock(stamps, clock),
            "event_type": [row[2] for row in rows],
            "channel": [row[3] if row[2] == "touch" else None for row in rows],
            "value": [row[4] if c else np.nan for row, c in zip(rows, converting, strict=True)],
            "offline": [row[5] and c for row, c in zip(rows, converting, strict=True)],
            "device": [row[6] for row in rows],
            "visits": [row[1] % 7 for row in rows],
        }
    )
    kwargs = {"lookback": draw(st.sampled_from(LOOKBACKS)), "conversion_types": conversion_types}
    return pa.Table.from_pandas(frame, preserve_index=False), kwargs


def _clock(stamps: list[pd.Timestamp], clock: str) -> list:
    utc = [s.tz_localize("UTC") for s in stamps]
    if clock == "naive":
        return stamps
    if clock == "utc":
        return utc
    if clock == "paris":
        return [s.tz_convert("Europe/Paris") for s in utc]
    if clock == "iso_z":
        return [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in utc]
    return [s.tz_convert("Asia/Kolkata").isoformat() for s in utc]  # +05:30


def assert_same_journeys(actual: ca.Journeys, expected: ca.Journeys) -> None:
    """Every stored field equal: records, their order, touches, attributes and totals."""
    assert actual.channels == expected.channels
    for name in ("codes", "offsets", "conversions", "value", "nulls"):
        got, want = getattr(actual, name), getattr(expected, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    for name in ("times", "conversion_times"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), name)
    pd.testing.assert_frame_equal(actual.attributes, expected.attributes)
    assert actual.unattributed_conversions == expected.unattributed_conversions
    assert actual.unattributed_value == expected.unattributed_value
    assert actual.window == expected.window
    assert actual.lookback == expected.lookback


def build_with_warnings(
    build: Callable[..., ca.Journeys], events: object, kwargs: dict
) -> tuple[ca.Journeys, list[list[str]]]:
    """Journeys, and the first two words of each DataWarning (they carry the counts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        journeys = build(events, **kwargs)
    messages = sorted(str(w.message) for w in caught if w.category is DataWarning)
    return journeys, [m.split(" ")[:2] for m in messages]
