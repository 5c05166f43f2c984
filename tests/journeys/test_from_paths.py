"""Journeys.from_paths: aggregated path tables, including ChannelAttribution's Data.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError, JourneyValidationError

GREEK = (
    "alpha",
    "beta",
    "delta",
    "epsilon",
    "eta",
    "gamma",
    "iota",
    "kappa",
    "lambda",
    "mi",
    "theta",
    "zeta",
)


def as_dict(paths: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    assert paths["path"].is_unique
    return {
        row.path: (row.conversions, row.value, row.nulls) for row in paths.itertuples(index=False)
    }


def normalise(path: str, sep: str = ">") -> str:
    return " > ".join(part.strip() for part in path.split(sep) if part.strip())


@pytest.fixture(scope="module")
def data_journeys(data_csv) -> ca.Journeys:
    return ca.Journeys.from_paths(
        data_csv,
        conversions="total_conversions",
        value="total_conversion_value",
        nulls="total_null",
    )


# -- ChannelAttribution's Data.csv -------------------------------------------------


def test_channelattribution_data_totals(data_csv, data_journeys):
    assert list(data_csv.columns) == [
        "path",
        "total_conversions",
        "total_conversion_value",
        "total_null",
    ]
    assert data_journeys.total_conversions == 19_785
    assert data_journeys.total_value == pytest.approx(74_802.97, abs=0.01)
    assert data_journeys.nulls.sum() == 68_602
    assert len(data_journeys) == 88_387
    assert data_journeys.unattributed_conversions == 0.0
    assert data_journeys.n_records == len(data_csv) == 10_000


def test_channelattribution_data_has_the_twelve_greek_channels_sorted(data_journeys):
    assert data_journeys.channels == GREEK
    assert len(data_journeys.channels) == 12


def test_channelattribution_data_has_no_timestamps(data_journeys):
    assert not data_journeys.has_timestamps
    assert data_journeys.times is None
    assert data_journeys.conversion_times is None
    assert data_journeys.window is None


def test_channelattribution_paths_round_trip_the_input_grouped_by_path(data_csv, data_journeys):
    got = data_journeys.paths().set_index("path").sort_index()
    expected = (
        data_csv.assign(path=data_csv["path"].map(normalise))
        .groupby("path")[["total_conversions", "total_conversion_value", "total_null"]]
        .sum()
        .sort_index()
    )

    assert len(got) == len(expected) == 5_408
    assert got.index.equals(expected.index)
    np.testing.assert_array_equal(got["conversions"], expected["total_conversions"])
    np.testing.assert_allclose(got["value"], expected["total_conversion_value"], rtol=1e-12)
    np.testing.assert_array_equal(got["nulls"], expected["total_null"])


def test_paths_are_sorted_by_conversions_then_nulls_descending(data_journeys):
    paths = data_journeys.paths()
    keys = list(zip(-paths["conversions"], -paths["nulls"], strict=True))

    assert keys == sorted(keys)
    assert list(paths.columns) == ["path", "conversions", "value", "nulls"]


# -- the tutorial path table (no non-converting paths) ------------------------------


def test_tutorial_path_table_without_nulls_loads(shared_data):
    table = pd.read_csv(shared_data / "tutorial-21ch" / "paths.csv")
    journeys = ca.Journeys.from_paths(table)

    assert journeys.total_conversions == 2_392
    assert journeys.total_value == 2_392.0
    assert journeys.nulls.sum() == 0.0
    assert len(journeys) == 2_392
    assert journeys.channels == tuple(sorted(f"ch{k}" for k in range(1, 21)))
    assert len(journeys.paths()) == 1_906
    assert journeys.paths()["nulls"].eq(0).all()


# -- defaults and edge cases -----------------------------------------------------------


def test_missing_value_column_means_value_equals_conversions():
    table = pd.DataFrame({"path": ["A > B", "B"], "conversions": [3.0, 2.5], "nulls": [1, 0]})
    journeys = ca.Journeys.from_paths(table)

    assert as_dict(journeys.paths()) == {"A > B": (3.0, 3.0, 1.0), "B": (2.5, 2.5, 0.0)}
    assert journeys.total_value == 5.5


def test_value_none_ignores_a_value_column():
    table = pd.DataFrame({"path": ["A"], "conversions": [2], "value": [100.0]})
    journeys = ca.Journeys.from_paths(table, value=None)

    assert journeys.total_value == 2.0


def test_missing_nulls_column_means_zero_nulls():
    table = pd.DataFrame({"path": ["A > B", "B"], "conversions": [3, 2], "value": [9.0, 4.0]})
    journeys = ca.Journeys.from_paths(table)

    assert as_dict(journeys.paths()) == {"A > B": (3.0, 9.0, 0.0), "B": (2.0, 4.0, 0.0)}
    assert len(journeys) == 5


def test_nulls_none_ignores_a_nulls_column():
    table = pd.DataFrame({"path": ["A"], "conversions": [2], "nulls": [50]})
    assert len(ca.Journeys.from_paths(table, nulls=None)) == 2


def test_fractional_counts_are_allowed():
    table = pd.DataFrame({"path": ["A"], "conversions": [0.5], "nulls": [1.25]})
    journeys = ca.Journeys.from_paths(table)

    assert journeys.total_conversions == 0.5
    assert journeys.nulls.sum() == 1.25


def test_repeated_paths_are_summed_by_paths():
    table = pd.DataFrame(
        {
            "path": ["A > B", "B", "A > B"],
            "conversions": [1, 2, 3],
            "value": [10.0, 20.0, 30.0],
            "nulls": [4, 5, 6],
        }
    )
    journeys = ca.Journeys.from_paths(table)

    assert journeys.n_records == 3
    assert as_dict(journeys.paths()) == {"A > B": (4.0, 40.0, 10.0), "B": (2.0, 20.0, 5.0)}


def test_empty_path_rows_with_conversions_are_unattributed():
    table = pd.DataFrame(
        {
            "path": ["A > B", "", None, "   "],
            "conversions": [1, 2, 3, 4],
            "value": [10.0, 20.0, 30.0, 40.0],
        }
    )
    journeys = ca.Journeys.from_paths(table)

    assert as_dict(journeys.paths()) == {"A > B": (1.0, 10.0, 0.0)}
    assert journeys.total_conversions == 1.0
    assert journeys.total_value == 10.0
    assert journeys.unattributed_conversions == 9.0
    assert journeys.unattributed_value == 90.0
    assert journeys.n_records == 1


def test_empty_path_without_value_column_counts_unattributed_value_as_conversions():
    table = pd.DataFrame({"path": ["A", ""], "conversions": [1, 2]})
    journeys = ca.Journeys.from_paths(table)

    assert journeys.unattributed_conversions == 2.0
    assert journeys.unattributed_value == 2.0


def test_blank_segments_inside_a_path_are_skipped():
    table = pd.DataFrame({"path": ["A >  > B", " > A > B > "], "conversions": [1, 2]})
    journeys = ca.Journeys.from_paths(table)

    assert as_dict(journeys.paths()) == {"A > B": (3.0, 3.0, 0.0)}


@pytest.mark.parametrize(
    ("column", "bad"),
    [("conversions", -1), ("nulls", -2), ("value", -0.5)],
)
def test_negative_counts_raise(column, bad):
    table = pd.DataFrame({"path": ["A", "B"], "conversions": [1, 1], "value": [1.0, 1.0]})
    table["nulls"] = [0, 0]
    table.loc[1, column] = bad
    with pytest.raises(JourneyValidationError, match=f"'{column}'") as info:
        ca.Journeys.from_paths(table)

    assert "negative" in str(info.value)
    assert "1 row" in str(info.value)


def test_channel_names_with_spaces_and_other_characters_work():
    table = pd.DataFrame(
        {
            "path": ["Paid Search > Organic Social", "Paid Search", "a>b > TV (local)"],
            "conversions": [1, 2, 3],
        }
    )
    journeys = ca.Journeys.from_paths(table)

    assert journeys.channels == ("Organic Social", "Paid Search", "TV (local)", "a>b")
    assert as_dict(journeys.paths()) == {
        "Paid Search > Organic Social": (1.0, 1.0, 0.0),
        "Paid Search": (2.0, 2.0, 0.0),
        "a>b > TV (local)": (3.0, 3.0, 0.0),
    }


def test_paths_raises_when_a_channel_name_contains_the_separator():
    table = pd.DataFrame({"path": ["Search > Email | Promo", "Search"], "conversions": [1, 1]})
    journeys = ca.Journeys.from_paths(table)

    with pytest.raises(JourneyValidationError, match="separator") as info:
        journeys.paths(sep=" | ")
    assert "Email | Promo" in str(info.value)
    assert "Fix" in str(info.value)
    assert as_dict(journeys.paths())["Search > Email | Promo"] == (1.0, 1.0, 0.0)


def test_paths_raises_for_an_event_channel_containing_the_default_separator():
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "event_type": ["touch", "conversion"],
            "channel": ["Email > Newsletter", None],
        }
    )
    journeys = ca.Journeys.from_events(events)

    assert journeys.channels == ("Email > Newsletter",)
    with pytest.raises(JourneyValidationError, match="separator"):
        journeys.paths()
    assert journeys.paths(sep=" | ")["path"].tolist() == ["Email > Newsletter"]


@pytest.mark.parametrize("sep", ["|", " -> ", ","])
def test_custom_separator_splits_and_joins_paths(sep):
    table = pd.DataFrame(
        {
            "path": [sep.join(["Email", "Paid Search"]), "Paid Search"],
            "conversions": [2, 1],
            "nulls": [1, 1],
        }
    )
    journeys = ca.Journeys.from_paths(table, sep=sep)

    assert journeys.channels == ("Email", "Paid Search")
    assert as_dict(journeys.paths(sep=sep)) == {
        sep.join(["Email", "Paid Search"]): (2.0, 2.0, 1.0),
        "Paid Search": (1.0, 1.0, 1.0),
    }
    assert "Email > Paid Search" in as_dict(journeys.paths())


@pytest.mark.parametrize("sep", ["", "   "])
def test_blank_separator_is_refused(sep):
    table = pd.DataFrame({"path": ["A"], "conversions": [1]})
    with pytest.raises(ConfigurationError, match="sep"):
        ca.Journeys.from_paths(table, sep=sep)


def test_column_keywords_map_roles_for_path_tables():
    table = pd.DataFrame({"route": ["A > B"], "conv": [2], "rev": [7.0], "lost": [5]})
    journeys = ca.Journeys.from_paths(
        table, path="route", conversions="conv", value="rev", nulls="lost"
    )

    assert as_dict(journeys.paths()) == {"A > B": (2.0, 7.0, 5.0)}


def test_non_default_index_is_fine():
    table = pd.DataFrame({"path": ["A > B", "B", "C"], "conversions": [1, 2, 3]}, index=[17, 3, 99])
    journeys = ca.Journeys.from_paths(table)

    assert as_dict(journeys.paths()) == {
        "A > B": (1.0, 1.0, 0.0),
        "B": (2.0, 2.0, 0.0),
        "C": (3.0, 3.0, 0.0),
    }


def test_concatenated_tables_with_duplicate_index_labels_load():
    part = pd.DataFrame({"path": ["A > B", "B"], "conversions": [1, 2], "nulls": [3, 4]})
    journeys = ca.Journeys.from_paths(pd.concat([part, part]))

    assert as_dict(journeys.paths()) == {"A > B": (2.0, 2.0, 6.0), "B": (4.0, 4.0, 8.0)}


def test_from_paths_of_paths_round_trips(data_journeys):
    again = ca.Journeys.from_paths(data_journeys.paths())

    pd.testing.assert_frame_equal(again.paths(), data_journeys.paths())
    assert again.channels == data_journeys.channels


def test_unattributed_conversions_survive_a_round_trip_when_asked():
    events = ca.datasets.load_example()
    journeys = ca.Journeys.from_events(events, lookback="30D")
    assert journeys.unattributed_conversions > 0  # conversions with no touch in the window
    plain = ca.Journeys.from_paths(journeys.paths())
    assert plain.unattributed_conversions == 0  # the default table has only paths
    table = journeys.paths(include_unattributed=True)
    assert (table["path"] == "").sum() == 1
    back = ca.Journeys.from_paths(table)
    assert back.unattributed_conversions == journeys.unattributed_conversions
    assert back.unattributed_value == pytest.approx(journeys.unattributed_value)
    assert back.total_conversions == journeys.total_conversions
    assert back.total_value == pytest.approx(journeys.total_value)


def test_no_empty_row_without_unattributed_conversions():
    table = pd.DataFrame({"path": ["A > B", "B"], "conversions": [3.0, 2.5], "nulls": [1, 0]})
    journeys = ca.Journeys.from_paths(table)
    assert "" not in set(journeys.paths(include_unattributed=True)["path"])
