"""Bad input to Journeys.from_events / from_paths: clear JourneyValidationErrors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import CausalityError, JourneyValidationError


def good_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01", "2024-01-02"]
            ),
            "event_type": ["touch", "touch", "conversion", "touch", "conversion"],
            "channel": ["Email", "Search", None, "Search", None],
            "value": [np.nan, np.nan, 10.0, np.nan, 4.0],
        }
    )


def with_column(name, values):
    def build():
        events = good_events()
        events[name] = pd.Series(values, dtype=object)
        return events

    return build


def good_paths() -> pd.DataFrame:
    return pd.DataFrame(
        {"path": ["A > B", "B"], "conversions": [3, 1], "value": [30.0, 5.0], "nulls": [2, 7]}
    )


def names_column(message: str, column: str) -> bool:
    """Whether the message quotes the column (alone, or inside a quoted 'a/b' pair)."""
    return re.search(rf"'[^'\n]*\b{re.escape(column)}\b[^'\n]*'", message) is not None


# Each case: builds a bad input, calls the reader, and names the column the message must name.
EVENT_CASES = {
    "missing timestamp column": (lambda: good_events().drop(columns="timestamp"), "timestamp"),
    "missing event_type column": (lambda: good_events().drop(columns="event_type"), "event_type"),
    "missing both id columns": (lambda: good_events().drop(columns="user_id"), "user_id"),
    "missing channel column": (lambda: good_events().drop(columns="channel"), "channel"),
    "unparseable timestamp": (
        with_column("timestamp", ["2024-01-01", "soon", "2024-01-03", "2024-01-01", "x"]),
        "timestamp",
    ),
    "missing timestamp": (
        with_column("timestamp", ["2024-01-01", None, "2024-01-03", "2024-01-01", "2024-01-02"]),
        "timestamp",
    ),
    "numeric timestamp": (
        lambda: good_events().assign(timestamp=np.arange(5) * 3600.0),
        "timestamp",
    ),
    "touch with NaN channel": (
        with_column("channel", ["Email", np.nan, None, "Search", None]),
        "channel",
    ),
    "touch with empty channel": (
        with_column("channel", ["Email", "", None, "Search", None]),
        "channel",
    ),
    "touch with blank channel": (
        with_column("channel", ["Email", "   ", None, "Search", None]),
        "channel",
    ),
    "negative value": (with_column("value", [np.nan, np.nan, -1.0, np.nan, 4.0]), "value"),
    "NaN value": (with_column("value", [np.nan, np.nan, np.nan, np.nan, 4.0]), "value"),
    "infinite value": (with_column("value", [np.nan, np.nan, np.inf, np.nan, 4.0]), "value"),
    "text value": (with_column("value", [np.nan, np.nan, "ten", np.nan, 4.0]), "value"),
    "event without any id": (with_column("user_id", ["u1", None, "u1", "u2", "u2"]), "user_id"),
    "no conversions": (
        lambda: good_events().assign(event_type="touch", channel="Email"),
        "event_type",
    ),
    "offline not boolean": (
        with_column("offline", [None, None, "perhaps", None, None]),
        "offline",
    ),
}

PATH_CASES = {
    "missing path column": (lambda: good_paths().drop(columns="path"), "path"),
    "missing conversions column": (
        lambda: good_paths().drop(columns="conversions"),
        "conversions",
    ),
    "negative conversions": (lambda: good_paths().assign(conversions=[3, -1]), "conversions"),
    "NaN conversions": (lambda: good_paths().assign(conversions=[3, np.nan]), "conversions"),
    "text conversions": (
        lambda: good_paths().assign(conversions=pd.Series([3, "many"], dtype=object)),
        "conversions",
    ),
    "negative nulls": (lambda: good_paths().assign(nulls=[-2, 7]), "nulls"),
    "negative value": (lambda: good_paths().assign(value=[-30.0, 5.0]), "value"),
    "infinite value": (lambda: good_paths().assign(value=[np.inf, 5.0]), "value"),
    "empty path with only nulls": (
        lambda: good_paths().assign(path=["A > B", ""], conversions=[3, 0]),
        "path",
    ),
}


@pytest.mark.parametrize(("build", "column"), EVENT_CASES.values(), ids=EVENT_CASES.keys())
def test_bad_event_log_raises_a_value_error_naming_the_column_with_a_fix(build, column):
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(build())

    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, CausalityError)
    message = str(info.value)
    assert names_column(message, column), message
    assert "Fix" in message


@pytest.mark.parametrize(("build", "column"), PATH_CASES.values(), ids=PATH_CASES.keys())
def test_bad_path_table_raises_a_value_error_naming_the_column_with_a_fix(build, column):
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_paths(build())

    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert names_column(message, column), message
    assert "Fix" in message


def test_journey_validation_error_is_caught_by_except_value_error():
    assert issubclass(JourneyValidationError, ValueError)
    assert issubclass(JourneyValidationError, CausalityError)
    with pytest.raises(ValueError, match="timestamp"):
        ca.Journeys.from_events(good_events().drop(columns="timestamp"))


@pytest.mark.parametrize(
    ("drop", "keyword"),
    [
        ("timestamp", "timestamp="),
        ("event_type", "event_type="),
        ("user_id", "user="),
        ("channel", "channel="),
    ],
)
def test_missing_column_message_lists_available_columns_and_the_keyword(drop, keyword):
    events = good_events().drop(columns=drop).assign(my_extra_column=1)
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events)

    message = str(info.value)
    assert keyword in message
    assert "Available" in message
    for column in events.columns:
        assert f"'{column}'" in message


def test_missing_mapped_column_message_names_the_mapped_column():
    events = good_events()
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events, timestamp="event_time")

    message = str(info.value)
    assert "'event_time'" in message
    assert "timestamp=" in message


def test_missing_path_table_column_lists_available_columns_and_the_keyword():
    table = good_paths().rename(columns={"conversions": "total_conversions"})
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_paths(table)

    message = str(info.value)
    assert "conversions=" in message
    for column in table.columns:
        assert f"'{column}'" in message


@pytest.mark.parametrize("role", ["value", "nulls"])
def test_missing_named_optional_path_column_says_how_to_fix_it(role):
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_paths(good_paths(), **{role: "not_there"})

    message = str(info.value)
    assert "'not_there'" in message
    assert f"{role}=" in message
    assert "Fix" in message


def test_empty_event_frame_raises_with_a_fix():
    with pytest.raises(JourneyValidationError, match="empty") as info:
        ca.Journeys.from_events(good_events().iloc[:0])

    assert "Fix" in str(info.value)


def test_empty_path_table_raises_with_a_fix():
    with pytest.raises(JourneyValidationError, match="empty") as info:
        ca.Journeys.from_paths(good_paths().iloc[:0])

    assert "Fix" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"user_id": ["u1"], "timestamp": ["2024-01-01"]}, id="dict"),
        pytest.param([("u1", "2024-01-01", "touch", "A")], id="list"),
        pytest.param(None, id="None"),
        pytest.param(np.zeros((2, 4)), id="ndarray"),
    ],
)
def test_non_dataframe_input_raises_journey_validation_error_not_type_error(data):
    with pytest.raises(JourneyValidationError, match="DataFrame") as info:
        ca.Journeys.from_events(data)
    assert "Fix" in str(info.value)

    with pytest.raises(JourneyValidationError, match="DataFrame") as info:
        ca.Journeys.from_paths(data)
    assert "Fix" in str(info.value)


def test_touch_rows_with_missing_channel_are_counted_and_shown():
    events = good_events()
    events["channel"] = pd.Series(["Email", np.nan, None, "", None], dtype=object)
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events)

    message = str(info.value)
    assert "'channel'" in message
    assert "2 rows" in message
    assert re.search(r"(?m)^1\s+NaN", message)
    assert re.search(r"(?m)^3\s*$", message)


def test_conversion_rows_need_no_channel():
    events = good_events()
    events["channel"] = ["Email", "Search", "", "Search", np.nan]
    assert ca.Journeys.from_events(events).total_conversions == 2.0


def big_event_log(n_rows: int = 1_000_000) -> pd.DataFrame:
    """Four events per user: three touches and one conversion, built with numpy."""
    position = np.arange(n_rows) % 4
    channel = np.array(["Display", "Email", "Search", None], dtype=object)[position]
    return pd.DataFrame(
        {
            "user_id": np.arange(n_rows, dtype=np.int64) // 4,
            "timestamp": np.datetime64("2024-01-01T00:00", "ns")
            + position.astype("timedelta64[h]"),
            "event_type": np.where(position == 3, "conversion", "touch"),
            "channel": channel,
        }
    )


@pytest.fixture(scope="module")
def big_events() -> pd.DataFrame:
    return big_event_log()


def test_million_row_log_with_three_bad_rows_reports_three_rows_and_shows_them(big_events):
    events = big_events.copy()
    bad = [10, 500_001, 999_998]
    events.loc[bad, "channel"] = None
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events)

    message = str(info.value)
    assert "3 rows" in message
    assert "1,000,000" not in message
    for label in bad:
        assert re.search(rf"(?m)^{label}\s", message), f"row {label} not shown"


def test_million_row_log_with_three_bad_timestamps_reports_three_rows(big_events):
    events = big_events.copy()
    events.loc[[5, 6, 700_000], "timestamp"] = pd.NaT
    with pytest.raises(JourneyValidationError, match="3 rows"):
        ca.Journeys.from_events(events)


def test_million_row_log_builds_journeys(big_events):
    journeys = ca.Journeys.from_events(big_events)

    assert len(journeys) == 250_000
    assert journeys.total_conversions == 250_000.0
    assert journeys.channels == ("Display", "Email", "Search")
    assert journeys.n_touches == 750_000


def test_many_bad_rows_show_only_the_first_few():
    events = pd.concat([good_events()] * 40, ignore_index=True)
    events.index = [f"ev{i:04d}" for i in range(len(events))]
    events.loc[events["event_type"] == "touch", "channel"] = None
    n_bad = int((events["event_type"] == "touch").sum())
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events)

    message = str(info.value)
    assert f"{n_bad} rows" in message
    shown = re.findall(r"ev\d{4}", message)
    assert 0 < len(shown) <= 10
    assert shown[0] == "ev0000"


@pytest.mark.parametrize("role", ["user", "anonymous", "channel", "value", "offline"])
def test_a_misspelled_optional_column_name_is_an_error_not_a_silent_default(role):
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "anonymous_id": [None, None],
            "timestamp": ["2024-01-01", "2024-01-02"],
            "event_type": ["touch", "conversion"],
            "channel": ["A", None],
            "value": [None, 5.0],
        }
    )
    with pytest.raises(JourneyValidationError, match=rf"'misspelt'.*{role}=.*Fix"):
        ca.Journeys.from_events(events, **{role: "misspelt"})
