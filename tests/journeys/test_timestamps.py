"""Timestamps in Journeys.from_events: time zones, text, and what is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import JourneyValidationError


def make_events(timestamps, kinds=("touch", "touch", "conversion"), channels=("A", "B", None)):
    n = len(timestamps)
    return pd.DataFrame(
        {
            "user_id": ["u1"] * n,
            "timestamp": timestamps,
            "event_type": list(kinds)[:n],
            "channel": list(channels)[:n],
        }
    )


def utc(text: str) -> np.datetime64:
    return np.datetime64(pd.Timestamp(text).tz_convert("UTC").tz_localize(None), "ns")


def test_tz_aware_timestamps_are_converted_to_utc():
    stamps = pd.Series(
        pd.to_datetime(
            ["2024-01-01T12:30:00+02:00", "2024-01-01T12:45:00+02:00", "2024-01-01T13:00:00+02:00"]
        )
    )
    assert isinstance(stamps.dtype, pd.DatetimeTZDtype)
    journeys = ca.Journeys.from_events(make_events(stamps))

    assert list(journeys.times) == [
        utc("2024-01-01T10:30:00Z"),
        utc("2024-01-01T10:45:00Z"),
    ]
    assert list(journeys.conversion_times) == [utc("2024-01-01T11:00:00Z")]
    assert journeys.window == (
        pd.Timestamp("2024-01-01T10:30:00", tz="UTC"),
        pd.Timestamp("2024-01-01T11:00:00", tz="UTC"),
    )


def test_named_time_zone_is_converted_to_utc():
    stamps = pd.Series(
        pd.to_datetime(["2024-07-01 12:00", "2024-07-01 13:00", "2024-07-01 14:00"])
    ).dt.tz_localize("Europe/Paris")
    journeys = ca.Journeys.from_events(make_events(stamps))

    assert list(journeys.times) == [utc("2024-07-01T10:00Z"), utc("2024-07-01T11:00Z")]


def test_naive_timestamps_are_taken_as_utc():
    stamps = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-01 12:00"])
    journeys = ca.Journeys.from_events(make_events(stamps))

    assert list(journeys.times) == [utc("2024-01-01T10:00Z"), utc("2024-01-01T11:00Z")]
    assert journeys.window[0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")


def test_ordering_uses_utc_not_local_wall_clock_time():
    # 12:30+02:00 is 10:30 UTC: before the 11:00 (naive, hence UTC) conversion.
    before = make_events(
        ["2024-01-01T12:30:00+02:00", "2024-01-01 11:00:00"],
        kinds=("touch", "conversion"),
        channels=("A", None),
    )
    assert ca.Journeys.from_events(before).total_conversions == 1.0

    # 12:30+02:00 is 10:30 UTC: after the 10:15 conversion, so the touch is not its journey.
    after = make_events(
        ["2024-01-01 10:15:00", "2024-01-01T12:30:00+02:00"],
        kinds=("conversion", "touch"),
        channels=(None, "A"),
    )
    journeys = ca.Journeys.from_events(after)
    assert journeys.total_conversions == 0.0
    assert journeys.unattributed_conversions == 1.0
    assert journeys.nulls.sum() == 1.0


def test_iso_8601_strings_are_parsed():
    journeys = ca.Journeys.from_events(
        make_events(["2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z", "2024-01-03T10:00:00Z"])
    )

    assert list(journeys.times) == [utc("2024-01-01T10:00Z"), utc("2024-01-02T10:00Z")]
    assert list(journeys.conversion_times) == [utc("2024-01-03T10:00Z")]


def test_mixed_string_formats_are_parsed():
    journeys = ca.Journeys.from_events(
        make_events(["2024-01-01T10:00:00Z", "2024/01/02 10:00", "Jan 3 2024 10:00"])
    )

    assert list(journeys.times) == [utc("2024-01-01T10:00Z"), utc("2024-01-02T10:00Z")]
    assert list(journeys.conversion_times) == [utc("2024-01-03T10:00Z")]


def test_string_dtype_and_non_nanosecond_datetimes_work():
    text = pd.Series(["2024-01-01", "2024-01-02", "2024-01-03"], dtype="string")
    seconds = np.array(["2024-01-01", "2024-01-02", "2024-01-03"], dtype="datetime64[s]")
    from_text = ca.Journeys.from_events(make_events(text))
    from_seconds = ca.Journeys.from_events(make_events(seconds))

    assert (
        list(from_text.times)
        == list(from_seconds.times)
        == [
            utc("2024-01-01T00:00Z"),
            utc("2024-01-02T00:00Z"),
        ]
    )


def test_unparseable_strings_raise_naming_the_column_and_counting_bad_rows():
    events = pd.DataFrame(
        {
            "user_id": ["u1"] * 4,
            "when": ["2024-01-01", "not a time", "2024-01-03", "yesterday-ish"],
            "event_type": ["touch", "touch", "touch", "conversion"],
            "channel": ["A", "B", "C", None],
        }
    )
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events, timestamp="when")

    message = str(info.value)
    assert "'when'" in message
    assert "2 rows" in message
    assert "not a time" in message
    assert "yesterday-ish" in message
    assert "Fix" in message


@pytest.mark.parametrize(
    "stamps",
    [
        pytest.param([1_704_067_200, 1_704_070_800, 1_704_074_400], id="int64-seconds"),
        pytest.param([1.7040672e9, 1.7040708e9, 1.7040744e9], id="float64-seconds"),
        pytest.param(
            pd.array([1_704_067_200_000, 1_704_070_800_000, None], dtype="Int64"),
            id="nullable-int-milliseconds",
        ),
    ],
)
def test_numeric_timestamps_are_refused_mentioning_the_unit(stamps):
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(make_events(stamps))

    message = str(info.value)
    assert "'timestamp'" in message
    assert "unit" in message
    assert "Fix" in message


def test_numbers_in_an_object_column_are_refused_too():
    stamps = pd.Series([1_704_067_200, 1_704_070_800, 1_704_074_400], dtype=object)
    with pytest.raises(JourneyValidationError, match="unit"):
        ca.Journeys.from_events(make_events(stamps))


@pytest.mark.filterwarnings("ignore:Parsing integer or float values")
@pytest.mark.parametrize("number", [1_704_067_200, 1_704_067_200.0])
def test_a_number_among_text_timestamps_is_refused(number):
    stamps = pd.Series([number, "2024-01-02", "2024-01-03"], dtype=object)
    with pytest.raises(JourneyValidationError, match="'timestamp'"):
        ca.Journeys.from_events(make_events(stamps))


@pytest.mark.parametrize(
    "stamps",
    [
        pytest.param(pd.to_datetime(["2024-01-01", None, "2024-01-03"]), id="NaT"),
        pytest.param(["2024-01-01", None, "2024-01-03"], id="None-in-text"),
    ],
)
def test_missing_timestamps_raise(stamps):
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(make_events(stamps))

    message = str(info.value)
    assert "'timestamp'" in message
    assert "missing" in message
    assert "1 row" in message
    assert "Fix" in message
