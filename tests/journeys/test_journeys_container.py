"""The Journeys container: read-only arrays, take and by_path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causality as ca

ARRAYS = ["codes", "offsets", "conversions", "value", "nulls"]
TIME_ARRAYS = ["times", "conversion_times"]


@pytest.fixture
def event_journeys() -> ca.Journeys:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u1", "u2", "u2", "u3", "u3", "u3"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-02",
                    "2024-01-03",
                    "2024-01-04",
                    "2024-01-01",
                    "2024-01-02",
                    "2024-01-01",
                    "2024-01-02",
                    "2024-01-03",
                ]
            ),
            "event_type": [
                "touch",
                "touch",
                "conversion",
                "touch",
                "touch",
                "conversion",
                "touch",
                "touch",
                "conversion",
            ],
            "channel": ["A", "B", None, "C", "B", None, "A", "B", None],
            "value": [np.nan, np.nan, 10.0, np.nan, np.nan, 4.0, np.nan, np.nan, 6.0],
            "device": ["m", "d", "m", "t", "d", "d", "t", "m", "m"],
        }
    )
    return ca.Journeys.from_events(events)


@pytest.fixture
def path_journeys() -> ca.Journeys:
    table = pd.DataFrame(
        {
            "path": ["A > B", "B", "A > B", "C > A", "B"],
            "conversions": [1.0, 2.0, 3.0, 0.0, 1.5],
            "value": [10.0, 20.0, 30.0, 0.0, 3.0],
            "nulls": [4.0, 0.0, 1.0, 7.0, 2.0],
        }
    )
    return ca.Journeys.from_paths(table)


def totals(journeys: ca.Journeys) -> tuple[float, ...]:
    return (
        journeys.total_conversions,
        journeys.total_value,
        float(journeys.nulls.sum()),
        float(len(journeys)),
        journeys.unattributed_conversions,
        journeys.unattributed_value,
    )


@pytest.mark.parametrize("name", ARRAYS + TIME_ARRAYS)
def test_event_journeys_arrays_are_read_only(event_journeys, name):
    array = getattr(event_journeys, name)
    before = array.copy()
    with pytest.raises(ValueError, match="read-only"):
        array[0] = array[-1]
    np.testing.assert_array_equal(getattr(event_journeys, name), before)


@pytest.mark.parametrize("name", ARRAYS)
def test_path_journeys_arrays_are_read_only(path_journeys, name):
    array = getattr(path_journeys, name)
    with pytest.raises(ValueError, match="read-only"):
        array[:] = 0


def test_constructor_copies_the_arrays_it_is_given():
    codes = np.array([0, 1, 1])
    conversions = np.array([1.0, 0.0])
    journeys = ca.Journeys(
        channels=["a", "b"],
        codes=codes,
        offsets=np.array([0, 2, 3]),
        conversions=conversions,
        value=np.array([5.0, 0.0]),
        nulls=np.array([0.0, 1.0]),
    )
    codes[0] = 1
    conversions[0] = 99.0

    assert journeys.codes.tolist() == [0, 1, 1]
    assert journeys.conversions.tolist() == [1.0, 0.0]


def test_take_of_every_record_in_any_order_preserves_totals(event_journeys):
    reversed_order = np.arange(event_journeys.n_records)[::-1]
    taken = event_journeys.take(reversed_order)

    assert totals(taken) == totals(event_journeys)
    pd.testing.assert_frame_equal(taken.paths(), event_journeys.paths())
    assert taken.channels == event_journeys.channels


def test_take_with_a_mask_keeps_exactly_the_selected_records(event_journeys):
    mask = event_journeys.conversions > 0
    taken = event_journeys.take(mask)

    assert taken.n_records == int(mask.sum())
    assert taken.total_conversions == event_journeys.total_conversions
    assert taken.total_value == event_journeys.total_value
    assert taken.nulls.sum() == 0.0
    assert taken.n_touches == int(event_journeys.lengths[mask].sum())


def test_take_keeps_touches_times_and_attributes_with_their_record(event_journeys):
    index = np.array([2, 0])
    taken = event_journeys.take(index)
    offsets = event_journeys.offsets

    for new, old in enumerate(index):
        start, stop = taken.offsets[new], taken.offsets[new + 1]
        old_start, old_stop = offsets[old], offsets[old + 1]
        np.testing.assert_array_equal(
            taken.codes[start:stop], event_journeys.codes[old_start:old_stop]
        )
        np.testing.assert_array_equal(
            taken.times[start:stop], event_journeys.times[old_start:old_stop]
        )
        assert taken.conversion_times[new] == event_journeys.conversion_times[old]
        assert taken.attributes.iloc[new].to_dict() == event_journeys.attributes.iloc[old].to_dict()


@pytest.mark.parametrize("fixture", ["event_journeys", "path_journeys"])
def test_by_path_preserves_totals_and_merges_identical_paths(fixture, request):
    journeys = request.getfixturevalue(fixture)
    grouped = journeys.by_path()

    assert totals(grouped) == pytest.approx(totals(journeys))
    assert grouped.n_records == len(journeys.paths())
    assert grouped.channels == journeys.channels
    pd.testing.assert_frame_equal(grouped.paths(), journeys.paths())


def test_by_path_merges_path_table_rows():
    table = pd.DataFrame(
        {"path": ["A > B", "B", "A > B"], "conversions": [1.0, 2.0, 3.0], "nulls": [1.0, 1.0, 1.0]}
    )
    grouped = ca.Journeys.from_paths(table).by_path()

    assert grouped.n_records == 2
    assert sorted(grouped.conversions.tolist()) == [2.0, 4.0]
    assert sorted(grouped.nulls.tolist()) == [1.0, 2.0]


def test_by_path_record_order_does_not_depend_on_input_row_order(path_journeys):
    table = path_journeys.paths()
    forward = ca.Journeys.from_paths(table).by_path()
    backward = ca.Journeys.from_paths(table.iloc[::-1]).by_path()

    np.testing.assert_array_equal(forward.codes, backward.codes)
    np.testing.assert_array_equal(forward.offsets, backward.offsets)
    np.testing.assert_array_equal(forward.conversions, backward.conversions)
    np.testing.assert_array_equal(forward.nulls, backward.nulls)
