"""Heuristic models against hand-worked examples and ChannelAttribution's numbers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError, DataWarning, JourneyValidationError

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def paths(rows):
    return ca.Journeys.from_paths(pd.DataFrame(rows, columns=["path", "conversions", "value"]))


def credit(journeys, model, **params):
    result = ca.attribute(journeys, model, n_bootstrap=0, **params)
    return result.table["conversions"].to_dict(), result.table["value"].to_dict()


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("first_click", "first_touch"), ("last_click", "last_touch"), ("linear", "linear_touch")],
)
def test_heuristics_equal_channelattribution_on_data_csv(data_csv, ours, theirs):
    reference = pd.read_csv(REFERENCE / "channelattribution_heuristics.csv").set_index(
        "channel_name"
    )
    journeys = ca.Journeys.from_paths(
        data_csv,
        conversions="total_conversions",
        value="total_conversion_value",
        nulls="total_null",
    )
    table = ca.attribute(journeys, ours, n_bootstrap=0).table.loc[reference.index]
    np.testing.assert_allclose(table["conversions"], reference[f"{theirs}_conversions"], rtol=1e-9)
    np.testing.assert_allclose(table["value"], reference[f"{theirs}_value"], rtol=1e-9)


def test_last_and_first_click_credit_the_end_touches():
    # "A > B > C" converts twice worth 10 in total, "B" once worth 4.
    journeys = paths([("A > B > C", 2, 10.0), ("B", 1, 4.0)])
    assert credit(journeys, "last_click")[0] == {"A": 0, "B": 1, "C": 2}
    assert credit(journeys, "first_click") == ({"A": 2, "B": 1, "C": 0}, {"A": 10, "B": 4, "C": 0})


def test_linear_counts_repeated_touches_separately():
    # "A > A > B": A gets 2/3, B 1/3 of one conversion.
    conv, _ = credit(paths([("A > A > B", 1, 3.0)]), "linear")
    assert conv == pytest.approx({"A": 2 / 3, "B": 1 / 3})


def test_position_based_rules_for_one_two_and_many_touches():
    journeys = paths([("A", 1, 1.0), ("A > B", 1, 1.0), ("A > B > C > D", 1, 1.0)])
    conv, _ = credit(journeys, "position_based")
    # One touch: all to A. Two: 50/50. Four: 0.4 first, 0.4 last, 0.1 to each middle.
    assert conv == pytest.approx({"A": 1 + 0.5 + 0.4, "B": 0.5 + 0.1, "C": 0.1, "D": 0.4})


def test_position_based_two_touches_split_in_proportion_first_to_last():
    conv, _ = credit(paths([("A > B", 1, 1.0)]), "position_based", first=0.3, last=0.5)
    assert conv == pytest.approx({"A": 0.3 / 0.8, "B": 0.5 / 0.8})


@pytest.mark.parametrize(
    "params", [{"first": 0.7, "last": 0.6}, {"first": -0.1}, {"first": 0.0, "last": 0.0}]
)
def test_position_based_rejects_impossible_weights(params):
    with pytest.raises(ConfigurationError, match=r"first|last"):
        ca.models.PositionBased(**params)


def test_last_non_direct_skips_direct_unless_it_is_alone():
    journeys = paths([("Email > Direct", 2, 2.0), ("Direct > Direct", 1, 1.0)])
    conv, _ = credit(journeys, "last_non_direct")
    assert conv == {"Direct": 1, "Email": 2}
    conv, _ = credit(journeys, "last_non_direct", direct_channel="Email")
    assert conv == {"Direct": 3, "Email": 0}


def test_last_non_direct_warns_when_direct_channel_is_absent():
    with pytest.warns(DataWarning, match="direct_channel"):
        conv, _ = credit(paths([("A > B", 1, 1.0)]), "last_non_direct")
    assert conv == {"A": 0, "B": 1}


def events_for_time_decay():
    t0 = pd.Timestamp("2024-01-10", tz="UTC")
    return pd.DataFrame(
        {
            "user_id": ["u1"] * 3,
            "timestamp": [t0 - pd.Timedelta(days=14), t0 - pd.Timedelta(days=7), t0],
            "event_type": ["touch", "touch", "conversion"],
            "channel": ["A", "B", None],
            "value": [np.nan, np.nan, 30.0],
        }
    )


def test_time_decay_halves_weight_per_half_life():
    # Touches 14 and 7 days before the conversion, half-life 7 days: weights 1/4 and 1/2.
    journeys = ca.Journeys.from_events(events_for_time_decay())
    conv, value = credit(journeys, "time_decay", half_life="7D")
    assert conv == pytest.approx({"A": 1 / 3, "B": 2 / 3})
    assert value == pytest.approx({"A": 10.0, "B": 20.0})


def test_time_decay_survives_half_lives_far_shorter_than_the_lookback():
    journeys = ca.Journeys.from_events(events_for_time_decay(), lookback=None)
    conv, _ = credit(journeys, "time_decay", half_life="1min")
    assert conv == pytest.approx({"A": 0.0, "B": 1.0})


def test_time_decay_refuses_path_tables_with_a_clear_error():
    with pytest.raises(JourneyValidationError, match="timestamp"):
        ca.attribute(paths([("A > B", 1, 1.0)]), "time_decay")


@pytest.mark.parametrize("half_life", ["-1D", "soon", 0, True])
def test_time_decay_rejects_bad_half_life(half_life):
    with pytest.raises(ConfigurationError, match="half_life"):
        ca.models.TimeDecay(half_life=half_life)


def test_time_decay_normalises_timedelta_half_life_to_text():
    model = ca.models.TimeDecay(half_life=pd.Timedelta(hours=12))
    assert pd.Timedelta(model.half_life) == pd.Timedelta(hours=12)
    assert isinstance(model.params()["half_life"], str)
