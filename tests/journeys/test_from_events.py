"""Journeys.from_events: journey boundaries, totals, attributes, event types and values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError, DataWarning, JourneyValidationError

T0 = pd.Timestamp("2024-01-01")
COLUMNS = ["path", "conversions", "value", "nulls"]
TOUCH_KINDS = {"touch", "ad_click", "email_open"}
CONVERSION_KINDS = {"conversion", "purchase", "lead"}


def at(days: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=days)


def make_events(*rows, **extra) -> pd.DataFrame:
    """Rows are ``(user, days, touch_kind, channel)``, ``(user, days, conversion_kind[, value])``
    or ``(user, days, other_kind)``."""
    data: dict[str, list] = {
        "user_id": [],
        "timestamp": [],
        "event_type": [],
        "channel": [],
        "value": [],
    }
    for user, days, kind, *rest in rows:
        data["user_id"].append(user)
        data["timestamp"].append(at(days))
        data["event_type"].append(kind)
        if kind in TOUCH_KINDS:
            data["channel"].append(rest[0])
            data["value"].append(np.nan)
        elif kind in CONVERSION_KINDS:
            data["channel"].append(None)
            data["value"].append(float(rest[0]) if rest else 1.0)
        else:
            data["channel"].append(None)
            data["value"].append(np.nan)
    frame = pd.DataFrame(data)
    for name, column in extra.items():
        frame[name] = column
    return frame


def expected_paths(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [r[0] for r in rows],
            "conversions": [float(r[1]) for r in rows],
            "value": [float(r[2]) for r in rows],
            "nulls": [float(r[3]) for r in rows],
        }
    )


def assert_paths(journeys: ca.Journeys, *rows) -> None:
    got = journeys.paths()
    assert list(got.columns) == COLUMNS
    pd.testing.assert_frame_equal(got, expected_paths(*rows), check_dtype=False)


def record_paths(journeys: ca.Journeys) -> list[str]:
    """The channel sequence of every record, in record order."""
    names = np.asarray(journeys.channels, dtype=object)
    offsets = journeys.offsets
    return [
        " > ".join(names[journeys.codes[offsets[i] : offsets[i + 1]]])
        for i in range(journeys.n_records)
    ]


# -- journey boundaries ------------------------------------------------------------


def test_touches_since_previous_conversion_form_the_converting_journey():
    events = make_events(
        ("u1", 0, "touch", "Email"),
        ("u1", 1, "touch", "Search"),
        ("u1", 2, "conversion", 10.0),
        ("u1", 4, "touch", "Display"),
        ("u2", 0, "touch", "Search"),
        ("u2", 1, "conversion", 5.0),
    )
    journeys = ca.Journeys.from_events(events)

    assert_paths(
        journeys,
        ("Email > Search", 1, 10.0, 0),
        ("Search", 1, 5.0, 0),
        ("Display", 0, 0.0, 1),
    )
    assert len(journeys) == 3
    assert journeys.channels == ("Display", "Email", "Search")
    assert journeys.total_conversions == 2.0
    assert journeys.total_value == 15.0
    assert journeys.unattributed_conversions == 0.0
    assert journeys.unattributed_value == 0.0
    assert journeys.n_touches == 4
    assert journeys.has_timestamps


def test_multiple_conversions_of_one_user_split_into_separate_journeys():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion", 1.0),
        ("u1", 2, "touch", "B"),
        ("u1", 3, "touch", "C"),
        ("u1", 4, "conversion", 2.0),
        ("u1", 5, "touch", "A"),
        ("u1", 6, "conversion", 4.0),
    )
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A", 2, 5.0, 0), ("B > C", 1, 2.0, 0))
    assert len(journeys) == 3
    assert journeys.total_conversions == 3.0
    assert journeys.total_value == 7.0
    assert sorted(journeys.conversion_times) == [np.datetime64(at(d)) for d in (1, 4, 6)]


def test_touches_older_than_lookback_are_left_out_of_the_journey():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 20, "touch", "B"),
        ("u1", 40, "conversion", 3.0),
    )
    journeys = ca.Journeys.from_events(events, lookback="30D")

    assert_paths(journeys, ("B", 1, 3.0, 0))
    assert journeys.n_touches == 1
    assert journeys.lookback == pd.Timedelta(days=30)


def test_lookback_keeps_a_touch_just_inside_and_drops_one_just_outside():
    events = make_events(
        ("u1", 0.0, "touch", "Outside"),
        ("u1", 0.2, "touch", "Inside"),
        ("u1", 10.1, "conversion"),
    )
    journeys = ca.Journeys.from_events(events, lookback="10D")
    assert_paths(journeys, ("Inside", 1, 1.0, 0))

    hours = ca.Journeys.from_events(events, lookback=pd.Timedelta(hours=12))
    assert len(hours) == 0
    assert hours.unattributed_conversions == 1.0


def test_lookback_none_keeps_every_touch_since_the_previous_conversion():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 200, "touch", "B"),
        ("u1", 400, "conversion", 2.0),
        ("u1", 500, "touch", "C"),
        ("u1", 900, "touch", "D"),
    )
    journeys = ca.Journeys.from_events(events, lookback=None)

    assert_paths(journeys, ("A > B", 1, 2.0, 0), ("C > D", 0, 0.0, 1))
    assert journeys.lookback is None
    assert journeys.n_touches == 4


def test_conversion_without_touch_in_its_window_is_unattributed():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 50, "conversion", 7.0),
        ("u2", 0, "touch", "B"),
        ("u2", 1, "conversion", 3.0),
        ("u3", 5, "conversion", 11.0),
    )
    journeys = ca.Journeys.from_events(events, lookback="30D")

    assert_paths(journeys, ("B", 1, 3.0, 0))
    assert journeys.unattributed_conversions == 2.0
    assert journeys.unattributed_value == 18.0
    assert journeys.total_conversions == 1.0
    assert journeys.total_value == 3.0
    assert len(journeys) == 1


def test_second_conversion_right_after_another_is_unattributed():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion", 2.0),
        ("u1", 2, "conversion", 3.0),
    )
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A", 1, 2.0, 0))
    assert journeys.unattributed_conversions == 1.0
    assert journeys.unattributed_value == 3.0


def test_only_unattributed_conversions_give_empty_journeys():
    events = make_events(("u1", 0, "conversion", 2.0), ("u2", 1, "conversion", 3.0))
    journeys = ca.Journeys.from_events(events)

    assert len(journeys) == 0
    assert journeys.n_records == 0
    assert journeys.total_conversions == 0.0
    assert journeys.unattributed_conversions == 2.0
    assert journeys.unattributed_value == 5.0
    assert journeys.paths().empty
    assert list(journeys.paths().columns) == COLUMNS


def test_non_converting_journey_is_touches_after_last_conversion_within_lookback_of_last_touch():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion", 1.0),
        ("u1", 10, "touch", "B"),
        ("u1", 50, "touch", "C"),
        ("u1", 60, "touch", "D"),
    )
    journeys = ca.Journeys.from_events(events, lookback="30D")

    assert_paths(journeys, ("A", 1, 1.0, 0), ("C > D", 0, 0.0, 1))
    assert journeys.n_touches == 3
    by_path = dict(zip(record_paths(journeys), journeys.conversion_times, strict=True))
    assert by_path["C > D"] == np.datetime64(at(60))
    assert by_path["A"] == np.datetime64(at(1))


def test_touches_in_no_window_are_dropped():
    events = make_events(
        ("u1", 0, "touch", "Stale"),
        ("u1", 100, "touch", "Fresh"),
        ("u1", 101, "conversion", 1.0),
    )
    journeys = ca.Journeys.from_events(events, lookback="7D")

    assert_paths(journeys, ("Fresh", 1, 1.0, 0))
    assert journeys.n_touches == 1
    assert len(journeys) == 1


def test_touch_logged_after_a_conversion_at_the_same_instant_starts_the_next_journey():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "touch", "B"),
        ("u1", 1, "conversion", 5.0),
        ("u1", 1, "touch", "C"),
    )
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A > B", 1, 5.0, 0), ("C", 0, 0.0, 1))


def test_touches_at_the_same_instant_keep_their_input_order():
    events = make_events(
        ("u1", 1, "touch", "Z"),
        ("u1", 1, "touch", "A"),
        ("u1", 1, "touch", "M"),
        ("u1", 2, "conversion"),
    )
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("Z > A > M", 1, 1.0, 0))


def test_rows_out_of_time_order_are_sorted_by_time():
    events = make_events(
        ("u1", 3, "conversion", 4.0),
        ("u1", 2, "touch", "B"),
        ("u1", 5, "touch", "C"),
        ("u1", 1, "touch", "A"),
    )
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A > B", 1, 4.0, 0), ("C", 0, 0.0, 1))


def test_touch_times_are_kept_per_touch_in_journey_order():
    events = make_events(
        ("u1", 2, "touch", "B"),
        ("u1", 1, "touch", "A"),
        ("u1", 3, "conversion"),
    )
    journeys = ca.Journeys.from_events(events)

    assert journeys.times.dtype == np.dtype("datetime64[ns]")
    assert list(journeys.times) == [np.datetime64(at(1)), np.datetime64(at(2))]
    assert list(journeys.conversion_times) == [np.datetime64(at(3))]


def test_window_is_first_and_last_event_timestamp_in_utc():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 40, "conversion"),
        ("u2", 5, "touch", "B"),
        ("u2", 45, "touch", "C"),
    )
    journeys = ca.Journeys.from_events(events, lookback="30D")

    first, last = journeys.window
    assert first == pd.Timestamp("2024-01-01", tz="UTC")
    assert last == at(45).tz_localize("UTC")
    assert str(first.tz) == "UTC"


def test_channel_names_are_unique_when_values_mix_numbers_and_text():
    events = make_events(("u1", 0, "touch", "x"), ("u1", 1, "touch", "x"), ("u1", 2, "conversion"))
    events["channel"] = pd.Series([1, "1", None], dtype=object)
    journeys = ca.Journeys.from_events(events)

    assert journeys.channels == ("1",)
    assert_paths(journeys, ("1 > 1", 1, 1.0, 0))
    assert journeys.codes.tolist() == [0, 0]


def test_non_text_channel_values_become_channel_names():
    events = make_events(("u1", 0, "touch", "x"), ("u1", 1, "touch", "x"), ("u1", 2, "conversion"))
    events["channel"] = pd.Series([10, 2, None], dtype=object)
    journeys = ca.Journeys.from_events(events)

    assert set(journeys.channels) == {"10", "2"}
    assert_paths(journeys, ("10 > 2", 1, 1.0, 0))


# -- attributes ----------------------------------------------------------------------


def test_attributes_hold_user_offline_and_extra_columns_at_the_first_touch():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "touch", "B"),
        ("u1", 2, "conversion", 9.0),
        ("u2", 0, "touch", "C"),
        ("u2", 1, "touch", "D"),
        device=["mobile", "desktop", "tablet", "tv", "watch"],
        region=["north", "south", "east", "west", "centre"],
        offline=[False, False, True, False, False],
    )
    journeys = ca.Journeys.from_events(events)

    attributes = journeys.attributes
    assert len(attributes) == journeys.n_records == 2
    assert set(attributes.columns) == {"user", "offline", "device", "region"}
    rows = dict(zip(record_paths(journeys), attributes.to_dict("records"), strict=True))
    assert rows["A > B"] == {"user": "u1", "offline": True, "device": "mobile", "region": "north"}
    assert rows["C > D"] == {"user": "u2", "offline": False, "device": "tv", "region": "west"}


def test_attributes_take_the_first_touch_inside_the_lookback():
    events = make_events(
        ("u1", 0, "touch", "Old"),
        ("u1", 50, "touch", "New"),
        ("u1", 51, "conversion"),
        device=["first", "second", "third"],
    )
    journeys = ca.Journeys.from_events(events, lookback="30D")

    assert journeys.attributes["device"].tolist() == ["second"]


def test_attributes_offline_is_false_without_an_offline_column():
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion"))
    journeys = ca.Journeys.from_events(events)

    assert journeys.attributes["offline"].tolist() == [False]
    assert journeys.attributes["user"].tolist() == ["u1"]


def test_attributes_do_not_contain_the_mapped_role_columns():
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion"), offline=[False, True])
    journeys = ca.Journeys.from_events(events)

    assert set(journeys.attributes.columns) == {"user", "offline"}


# -- column mapping ------------------------------------------------------------------


def test_column_keywords_map_roles_to_other_column_names():
    events = pd.DataFrame(
        {
            "uid": ["u1", None, "u1", "u1"],
            "cookie": [None, "c9", "c9", None],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
            "kind": ["touch", "touch", "identify", "conversion"],
            "source": ["Email", "Search", None, None],
            "revenue": [np.nan, np.nan, np.nan, 42.0],
            "is_offline": [False, False, False, True],
            "device": ["mobile", "desktop", "desktop", "mobile"],
        }
    )
    journeys = ca.Journeys.from_events(
        events,
        user="uid",
        anonymous="cookie",
        timestamp="ts",
        event_type="kind",
        channel="source",
        value="revenue",
        offline="is_offline",
    )

    assert_paths(journeys, ("Email > Search", 1, 42.0, 0))
    assert journeys.attributes.to_dict("records") == [
        {"user": "u1", "offline": True, "device": "mobile"}
    ]


# -- event types -------------------------------------------------------------------


def test_other_event_types_are_ignored_with_a_data_warning_giving_their_count():
    plain = make_events(("u1", 0, "touch", "A"), ("u1", 2, "conversion"))
    noisy = pd.concat(
        [
            plain,
            make_events(
                ("u1", 1, "page_view"),
                ("u1", 1.5, "page_view"),
                ("u1", 3, "page_view"),
                ("u1", 4, "scroll"),
            ),
        ],
        ignore_index=True,
    )
    with pytest.warns(DataWarning, match=r"ignored 4 events") as record:
        journeys = ca.Journeys.from_events(noisy)

    message = str(record[0].message)
    assert "'page_view': 3" in message
    assert "'scroll': 1" in message
    pd.testing.assert_frame_equal(journeys.paths(), ca.Journeys.from_events(plain).paths())


@pytest.mark.parametrize("kind", ["identify", "alias", "login"])
def test_identity_event_types_are_ignored_silently(kind):
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, kind), ("u1", 2, "conversion"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A", 1, 1.0, 0))


def test_custom_conversion_and_touch_types_are_used():
    events = make_events(
        ("u1", 0, "ad_click", "Display"),
        ("u1", 1, "email_open", "Email"),
        ("u1", 2, "purchase", 20.0),
        ("u2", 0, "email_open", "Email"),
        ("u2", 1, "lead", 0.0),
        ("u2", 2, "conversion", 99.0),
    )
    with pytest.warns(DataWarning, match=r"ignored 1 events"):
        journeys = ca.Journeys.from_events(
            events,
            conversion_types=("purchase", "lead"),
            touch_types=("ad_click", "email_open"),
        )

    assert_paths(journeys, ("Display > Email", 1, 20.0, 0), ("Email", 1, 0.0, 0))
    assert journeys.channels == ("Display", "Email")


def test_no_conversions_at_all_raise_naming_the_event_type_column():
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "touch", "B"))
    with pytest.raises(JourneyValidationError, match="event_type") as info:
        ca.Journeys.from_events(events)

    assert "conversion_types" in str(info.value)
    assert "Fix" in str(info.value)


@pytest.mark.parametrize("lookback", ["abc", "-1D", "0D", 0, True])
def test_bad_lookback_raises_configuration_error(lookback):
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion"))
    with pytest.raises(ConfigurationError, match="lookback"):
        ca.Journeys.from_events(events, lookback=lookback)


def test_numeric_lookback_is_refused_as_ambiguous():
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion"))
    with pytest.raises(ConfigurationError, match="lookback"):
        ca.Journeys.from_events(events, lookback=7)


# -- values and offline flags --------------------------------------------------------


def test_without_value_column_every_conversion_is_worth_one():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion"),
        ("u2", 0, "touch", "A"),
        ("u2", 1, "conversion"),
        ("u3", 0, "conversion"),
    ).drop(columns="value")
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A", 2, 2.0, 0))
    assert journeys.total_value == 2.0
    assert journeys.unattributed_value == 1.0


def test_value_on_touch_rows_is_not_read():
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion", 8.0))
    events["value"] = pd.Series([np.nan, 8.0], dtype=object)
    assert ca.Journeys.from_events(events).total_value == 8.0

    events["value"] = pd.Series(["n/a", 8.0], dtype=object)
    assert ca.Journeys.from_events(events).total_value == 8.0

    events["value"] = [-5.0, 8.0]
    assert ca.Journeys.from_events(events).total_value == 8.0


def test_zero_conversion_value_is_accepted():
    events = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion", 0.0))
    journeys = ca.Journeys.from_events(events)

    assert_paths(journeys, ("A", 1, 0.0, 0))


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (-3.0, "negative"),
        (np.nan, "missing"),
        (np.inf, "infinite"),
        (-np.inf, "infinite"),
        ("twelve", "not numbers"),
        ("$12", "not numbers"),
    ],
)
def test_bad_conversion_value_raises_naming_value_with_the_count(bad, rule):
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion", 1.0),
        ("u1", 2, "conversion", 1.0),
        ("u2", 2, "conversion", 1.0),
    )
    events["value"] = pd.Series([np.nan, bad, 5.0, bad], dtype=object)
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events)

    message = str(info.value)
    assert "'value'" in message
    assert rule in message
    assert "2 rows" in message
    assert "Fix" in message


def test_offline_bool_column_flags_offline_conversions():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion"),
        ("u2", 0, "touch", "B"),
        ("u2", 1, "conversion"),
        ("u3", 0, "touch", "C"),
        offline=[False, True, False, False, False],
    )
    journeys = ca.Journeys.from_events(events)

    flags = dict(zip(record_paths(journeys), journeys.attributes["offline"], strict=True))
    assert flags == {"A": True, "B": False, "C": False}
    assert journeys.attributes["offline"].dtype == bool


def test_offline_text_column_true_false_flags_offline_conversions():
    events = make_events(
        ("u1", 0, "touch", "A"),
        ("u1", 1, "conversion"),
        ("u2", 0, "touch", "B"),
        ("u2", 1, "conversion"),
        offline=["false", "true", "false", "false"],
    )
    journeys = ca.Journeys.from_events(events)

    flags = dict(zip(record_paths(journeys), journeys.attributes["offline"], strict=True))
    assert flags == {"A": True, "B": False}


def test_offline_conversions_join_journeys_like_any_conversion():
    online = make_events(("u1", 0, "touch", "A"), ("u1", 1, "conversion", 5.0))
    offline = online.assign(offline=[False, True])

    pd.testing.assert_frame_equal(
        ca.Journeys.from_events(online).paths(), ca.Journeys.from_events(offline).paths()
    )


def test_offline_column_with_non_boolean_text_raises():
    events = make_events(
        ("u1", 0, "touch", "A"), ("u1", 1, "conversion"), offline=["false", "maybe"]
    )
    with pytest.raises(JourneyValidationError, match="offline") as info:
        ca.Journeys.from_events(events)

    assert "maybe" in str(info.value)
    assert "Fix" in str(info.value)
