"""Identity stitching in Journeys.from_events: user ids, anonymous ids and the links between."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import DataWarning, JourneyValidationError

T0 = pd.Timestamp("2024-01-01")


def make_events(*rows) -> pd.DataFrame:
    """Rows are ``(user_id, anonymous_id, days, event_type, channel)``."""
    users, anons, days, kinds, channels = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "user_id": list(users),
            "anonymous_id": list(anons),
            "timestamp": [T0 + pd.Timedelta(days=d) for d in days],
            "event_type": list(kinds),
            "channel": list(channels),
        }
    )


def by_path(journeys: ca.Journeys) -> dict[str, tuple[float, float, str]]:
    """Per record: path -> (conversions, nulls, user)."""
    names = np.asarray(journeys.channels, dtype=object)
    offsets = journeys.offsets
    out = {}
    for i in range(journeys.n_records):
        path = " > ".join(names[journeys.codes[offsets[i] : offsets[i + 1]]])
        assert path not in out, "test frames use distinct paths per record"
        out[path] = (
            float(journeys.conversions[i]),
            float(journeys.nulls[i]),
            journeys.attributes["user"].iloc[i],
        )
    return out


def test_row_with_both_ids_links_anonymous_events_before_and_after_to_the_user():
    events = make_events(
        (None, "a1", 0, "touch", "Display"),
        ("u1", "a1", 1, "identify", None),
        (None, "a1", 2, "touch", "Email"),
        ("u1", None, 3, "conversion", None),
    )
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"Display > Email": (1.0, 0.0, "u1")}
    assert journeys.unattributed_conversions == 0.0


def test_link_made_after_the_conversion_still_stitches_earlier_anonymous_touches():
    events = make_events(
        (None, "a1", 0, "touch", "Display"),
        ("u1", None, 1, "conversion", None),
        ("u1", "a1", 5, "identify", None),
    )
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"Display": (1.0, 0.0, "u1")}


def test_a_touch_row_carrying_both_ids_links_them():
    events = make_events(
        (None, "a1", 0, "touch", "Display"),
        ("u1", "a1", 1, "touch", "Search"),
        ("u1", None, 2, "conversion", None),
        (None, "a1", 3, "touch", "Email"),
    )
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {
        "Display > Search": (1.0, 0.0, "u1"),
        "Email": (0.0, 1.0, "u1"),
    }


def test_a_page_view_carrying_both_ids_links_them():
    events = make_events(
        (None, "a1", 0, "touch", "Display"),
        ("u1", "a1", 1, "page_view", None),
        ("u1", None, 2, "conversion", None),
    )
    with pytest.warns(DataWarning, match="ignored 1 events"):
        journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"Display": (1.0, 0.0, "u1")}


def test_anonymous_id_linked_to_two_users_goes_to_the_first_by_time_with_a_warning():
    # The link to u1 comes first in row order, but the link to u2 is earlier in time.
    events = make_events(
        ("u1", "a1", 5, "identify", None),
        ("u2", "a1", 2, "identify", None),
        (None, "a1", 1, "touch", "Display"),
        ("u1", None, 6, "conversion", None),
        ("u2", None, 6, "conversion", None),
    )
    with pytest.warns(DataWarning, match=r"1 anonymous ids? (is|are) linked to more than one"):
        journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"Display": (1.0, 0.0, "u2")}
    assert journeys.unattributed_conversions == 1.0


def test_links_at_the_same_instant_go_to_the_first_in_row_order():
    events = make_events(
        ("u2", "a1", 2, "identify", None),
        ("u1", "a1", 2, "identify", None),
        (None, "a1", 1, "touch", "Display"),
        ("u1", None, 6, "conversion", None),
        ("u2", None, 6, "conversion", None),
    )
    with pytest.warns(DataWarning):
        journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"Display": (1.0, 0.0, "u2")}


def test_two_user_ids_sharing_an_anonymous_id_are_never_merged():
    events = make_events(
        ("u1", "shared", 0, "touch", "A"),
        ("u2", "shared", 1, "touch", "B"),
        ("u1", None, 2, "conversion", None),
        ("u2", None, 3, "conversion", None),
    )
    with pytest.warns(DataWarning):
        journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"A": (1.0, 0.0, "u1"), "B": (1.0, 0.0, "u2")}
    assert journeys.unattributed_conversions == 0.0


def test_conflict_warning_counts_conflicting_anonymous_ids():
    events = make_events(
        ("u1", "a1", 0, "identify", None),
        ("u2", "a1", 1, "identify", None),
        ("u1", "a2", 0, "identify", None),
        ("u3", "a2", 1, "identify", None),
        ("u1", "a3", 0, "identify", None),
        ("u1", "a3", 1, "touch", "A"),
        ("u1", None, 2, "conversion", None),
    )
    with pytest.warns(DataWarning, match=r"\b2 anonymous ids"):
        ca.Journeys.from_events(events)


def test_unlinked_anonymous_ids_stay_separate_persons():
    events = make_events(
        (None, "a1", 0, "touch", "A"),
        (None, "a2", 1, "touch", "B"),
        (None, "a1", 2, "conversion", None),
    )
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"A": (1.0, 0.0, "a1"), "B": (0.0, 1.0, "a2")}


def test_consistent_links_raise_no_warning():
    events = make_events(
        ("u1", "a1", 0, "identify", None),
        ("u1", "a1", 1, "touch", "A"),
        ("u1", None, 2, "conversion", None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"A": (1.0, 0.0, "u1")}


def test_frame_with_only_a_user_id_column_works():
    events = make_events(
        ("u1", None, 0, "touch", "A"),
        ("u2", None, 1, "touch", "B"),
        ("u1", None, 2, "conversion", None),
    ).drop(columns="anonymous_id")
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"A": (1.0, 0.0, "u1"), "B": (0.0, 1.0, "u2")}


def test_frame_with_only_an_anonymous_id_column_works():
    events = make_events(
        (None, "a1", 0, "touch", "A"),
        (None, "a2", 1, "touch", "B"),
        (None, "a1", 2, "conversion", None),
    ).drop(columns="user_id")
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"A": (1.0, 0.0, "a1"), "B": (0.0, 1.0, "a2")}


def test_integer_user_ids_work():
    events = make_events(
        (7, None, 0, "touch", "A"),
        (7, None, 1, "conversion", None),
        (3, None, 0, "touch", "B"),
    ).drop(columns="anonymous_id")
    events["user_id"] = events["user_id"].astype("int64")
    journeys = ca.Journeys.from_events(events)

    assert by_path(journeys) == {"A": (1.0, 0.0, 7), "B": (0.0, 1.0, 3)}


def test_event_with_neither_id_raises_naming_both_columns():
    events = make_events(
        ("u1", None, 0, "touch", "A"),
        (None, None, 1, "touch", "B"),
        ("u1", None, 2, "conversion", None),
    )
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events)

    message = str(info.value)
    assert "user_id" in message
    assert "anonymous_id" in message
    assert "1 row" in message
    assert "Fix" in message


def test_stitching_does_not_depend_on_row_order():
    events = make_events(
        (None, "a1", 0, "touch", "Display"),
        ("u1", "a1", 1, "identify", None),
        (None, "a1", 2, "touch", "Email"),
        ("u1", None, 3, "conversion", None),
        (None, "a2", 1, "touch", "Search"),
        ("u2", "a2", 4, "identify", None),
        ("u2", None, 5, "conversion", None),
    )
    forward = ca.Journeys.from_events(events)
    backward = ca.Journeys.from_events(events.iloc[::-1])

    pd.testing.assert_frame_equal(forward.paths(), backward.paths())
    assert by_path(forward) == by_path(backward)
