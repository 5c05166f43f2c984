"""Shapley attribution against hand-worked games, brute force, axioms and MAM's numbers."""

import dataclasses
import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import causality as ca
from causality.errors import ConfigurationError, DataWarning
from causality.models.shapley import Shapley
from causality.results import AttributionResult
from causality.testing import parametrize_with_checks

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubsetShapley(Shapley):
    """The contract suite builds models from a class: this one defaults to subset_conversions."""

    value: str = "subset_conversions"


@parametrize_with_checks([Shapley, SubsetShapley])
def test_contract(model, check):
    check(model)


def paths(rows):
    columns = ["path", "conversions", "nulls", "value"][: len(rows[0])]
    return ca.Journeys.from_paths(pd.DataFrame(rows, columns=columns))


def fit(journeys, **params):
    params.setdefault("n_bootstrap", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return Shapley(**params).fit(journeys)


def credit(journeys, **params):
    return fit(journeys, **params).table["conversions"].to_dict()


def brute_force_coalition_rate(table):
    """The MAM / Dalessandro definition, straight from the Shapley formula (itertools)."""
    stats = {}
    for path, conv, nulls in table[["path", "conversions", "nulls"]].itertuples(index=False):
        key = frozenset(path.split(" > "))
        c, n = stats.get(key, (0.0, 0.0))
        stats[key] = (c + conv, n + conv + nulls)
    rate = {k: c / n for k, (c, n) in stats.items() if c > 0}
    out = {}
    for coalition, (conv, journeys) in stats.items():
        if conv == 0:
            continue
        s = len(coalition)
        for channel in coalition:
            others = coalition - {channel}
            phi = 0.0
            for r in range(s):
                for subset in itertools.combinations(sorted(others), r):
                    weight = math.factorial(r) * math.factorial(s - r - 1) / math.factorial(s)
                    with_c = rate.get(frozenset(subset) | {channel}, 0.0)
                    phi += weight * (with_c - rate.get(frozenset(subset), 0.0))
            out[channel] = out.get(channel, 0.0) + phi * journeys  # sums to conversions
    return out


# -- hand-worked games ----------------------------------------------------------------
def test_two_channel_coalition_rate_by_hand():
    # Rates: v(E) = 1/10, v(S) = 2/10, v(ES) = 3/6 = 0.5.
    # Coalition {E,S}: phi_E = (v(E) + v(ES) - v(S)) / 2 = (0.1 + 0.3) / 2 = 0.2,
    # phi_S = (0.2 + 0.4) / 2 = 0.3; they sum to 0.5 and are scaled to its 3 conversions:
    # E 1.2, S 1.8. Single-channel coalitions keep their own conversions: E 1, S 2.
    journeys = paths(
        [("Email", 1, 9, 10.0), ("Search", 2, 8, 20.0), ("Email > Search", 3, 3, 60.0)]
    )
    result = fit(journeys)
    assert result.table["conversions"].to_dict() == pytest.approx({"Email": 2.2, "Search": 3.8})
    # Value follows conversions inside each coalition: {E,S} is worth 60, split 0.4 / 0.6.
    assert result.table["value"].to_dict() == pytest.approx({"Email": 34.0, "Search": 56.0})


def test_two_channel_subset_conversions_by_hand():
    # v(E) = 1, v(S) = 2, v(ES) = 6. phi_E = (1 + (6 - 2)) / 2 = 2.5, phi_S = (2 + 5) / 2 = 3.5:
    # the {E,S} journeys' 3 conversions split 1.5 / 1.5 (Zhao et al.'s closed form).
    journeys = paths([("Email", 1, 9), ("Search", 2, 8), ("Email > Search", 3, 3)])
    assert credit(journeys, value="subset_conversions") == pytest.approx(
        {"Email": 2.5, "Search": 3.5}
    )


def test_subset_conversions_splits_each_journey_equally_among_its_distinct_channels():
    rows = [("A > B > A", 4, 1), ("C", 3, 0), ("A > B > C > C", 6, 2), ("B > D", 2, 9)]
    # Repeated touches count once: A>B>A gives 2 each; A>B>C>C gives 2 each; B>D 1 each.
    expected = {"A": 2 + 2, "B": 2 + 2 + 1, "C": 3 + 2, "D": 1}
    assert credit(paths(rows), value="subset_conversions") == pytest.approx(expected)


def test_coalition_rate_equals_brute_force_shapley_on_random_paths():
    rng = np.random.default_rng(3)
    channels = list("abcdefg")
    rows = [
        (
            " > ".join(rng.choice(channels, rng.integers(1, 7))),
            int(rng.integers(0, 6)),
            int(rng.integers(0, 9)),
        )
        for _ in range(120)
    ]
    table = pd.DataFrame(rows, columns=["path", "conversions", "nulls"])
    got = credit(ca.Journeys.from_paths(table))
    expected = brute_force_coalition_rate(table)
    assert got == pytest.approx({c: expected.get(c, 0.0) for c in got}, rel=1e-10, abs=1e-10)


def test_negative_credit_is_kept_counted_and_warned():
    # Rates: v(A) = 5/10 = 0.5, v(B) = 1/20 = 0.05, v(AB) = 2/10 = 0.2.
    # In {A,B}: phi_A = (0.5 + (0.2 - 0.05)) / 2 = 0.325, phi_B = (0.05 + (0.2 - 0.5)) / 2
    # = -0.125; scaled by its 10 journeys: A 3.25, B -1.25. Totals: A 5 + 3.25 = 8.25,
    # B 1 - 1.25 = -0.25, together the 8 conversions.
    journeys = paths([("A", 5, 5), ("B", 1, 19), ("A > B", 2, 8)])
    with pytest.warns(DataWarning, match="negative"):
        result = Shapley(n_bootstrap=0).fit(journeys)
    assert result.table["conversions"].to_dict() == pytest.approx({"A": 8.25, "B": -0.25})
    assert result.diagnostics["negative_credit_channels"] == 1


def test_custom_value_function_reproduces_the_glove_game():
    # Glove game: L holds a left glove, R1 and R2 a right one; a pair is worth 1.
    # Shapley values: L 2/3, R1 1/6, R2 1/6 (the textbook result), scaled to 12 conversions.
    def gloves(coalition):
        return min("L" in coalition, len(coalition & {"R1", "R2"}))

    journeys = paths([("L > R1", 6, 0, 60.0), ("R2", 6, 0, 0.0)])
    result = fit(journeys, value=gloves)
    assert result.table["conversions"].to_dict() == pytest.approx({"L": 8, "R1": 2, "R2": 2})
    assert result.table["value"].to_dict() == pytest.approx({"L": 40, "R1": 10, "R2": 10})
    assert result.params["value"].startswith("callable:")
    json.dumps(result.to_dict())


def test_custom_value_function_three_player_game():
    # v(1) = v(2) = v(3) = 0, v(12) = v(13) = 60, v(23) = 30, v(123) = 90. Over the 6 orders,
    # player 1 adds 0 when first (2 orders), 60 when second (2) and 90 - 30 = 60 when last
    # (2): 40. Player 2 adds 0, then 60 (after 1) or 30 (after 3), then 90 - 60 = 30 (2
    # orders): 25; player 3 likewise 25. They sum to v(123) = 90 = the conversions.
    worth = {frozenset(): 0, frozenset("1"): 0, frozenset("2"): 0, frozenset("3"): 0}
    worth |= {frozenset("12"): 60, frozenset("13"): 60, frozenset("23"): 30}
    worth[frozenset("123")] = 90
    journeys = paths([("1 > 2 > 3", 90, 0)])
    assert credit(journeys, value=lambda c: worth[c]) == pytest.approx({"1": 40, "2": 25, "3": 25})


# -- axioms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["coalition_rate", "subset_conversions"])
def test_channels_that_always_appear_together_get_equal_credit(value):
    journeys = paths([("A > B", 5, 5), ("C > B > A", 3, 2), ("C", 2, 8), ("B > A > A", 1, 3)])
    table = credit(journeys, value=value)
    assert table["A"] == pytest.approx(table["B"])


def test_channel_only_in_non_converting_journeys_gets_nothing_under_subset_conversions():
    journeys = paths([("A > B", 5, 5), ("C", 0, 10), ("A", 2, 1)])
    assert credit(journeys, value="subset_conversions")["C"] == 0


@pytest.mark.parametrize("value", ["coalition_rate", "subset_conversions"])
def test_credit_sums_to_total_conversions_and_value(value):
    journeys = ca.Journeys.from_events(ca.datasets.load_example())
    table = fit(journeys, value=value).table
    assert table["conversions"].sum() == pytest.approx(journeys.total_conversions, rel=1e-12)
    assert table["value"].sum() == pytest.approx(journeys.total_value, rel=1e-12)


path_tables = st.lists(
    st.tuples(
        st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=25,
).filter(lambda rows: sum(r[1] for r in rows) > 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=path_tables, value=st.sampled_from(["coalition_rate", "subset_conversions"]))
def test_credit_sums_to_total_and_moves_with_renamed_channels(rows, value):
    frame = pd.DataFrame(
        [(" > ".join(p), c, n) for p, c, n in rows], columns=["path", "conversions", "nulls"]
    )
    rename = {c: f"ch-{9 - i}" for i, c in enumerate("abcdef")}
    renamed = frame.assign(path=[" > ".join(rename[c] for c in p) for p, _, _ in rows])
    a = credit(ca.Journeys.from_paths(frame), value=value)
    b = credit(ca.Journeys.from_paths(renamed), value=value)
    assert sum(a.values()) == pytest.approx(frame["conversions"].sum(), rel=1e-9)
    assert {c: b[rename[c]] for c in a} == pytest.approx(a, rel=1e-9, abs=1e-9)


# -- exact and sampled estimators -----------------------------------------------------------
@pytest.fixture(scope="module")
def wide_paths():
    rng = np.random.default_rng(7)
    channels = [f"c{i:02d}" for i in range(12)]
    rows = [
        (
            " > ".join(rng.choice(channels, rng.integers(1, 10))),
            int(rng.integers(0, 8)),
            int(rng.integers(0, 12)),
        )
        for _ in range(400)
    ]
    return ca.Journeys.from_paths(pd.DataFrame(rows, columns=["path", "conversions", "nulls"]))


def test_exact_and_sampled_agree_within_three_standard_errors(wide_paths):
    exact = fit(wide_paths, method="exact")
    sampled = fit(wide_paths, method="sampled", n_permutations=2000)
    errors = sampled.extras["shapley_standard_errors"]
    assert (errors["conversions"] > 0).all()
    assert (exact.extras["shapley_standard_errors"]["conversions"] == 0).all()
    gap = (sampled.table["conversions"] - exact.table["conversions"]).abs()
    assert (gap <= 3 * errors["conversions"]).all(), pd.concat([gap, errors], axis=1)
    # Every permutation's gains add up to v(S), so sampled credit sums exactly too.
    assert sampled.table["conversions"].sum() == pytest.approx(wide_paths.total_conversions)


def test_standard_error_shrinks_as_one_over_root_permutations(wide_paths):
    few = fit(wide_paths, method="sampled", n_permutations=250)
    many = fit(wide_paths, method="sampled", n_permutations=4000)
    ratio = (
        many.extras["shapley_standard_errors"]["conversions"]
        / few.extras["shapley_standard_errors"]["conversions"]
    )
    np.testing.assert_allclose(ratio, 0.25, rtol=0.25)


def test_journey_with_22_channels_is_sampled_and_keeps_every_channel():
    channels = [f"ch{i:02d}" for i in range(22)]
    rows = [(" > ".join(channels), 6, 4)]
    rows += [(c, 1 + i % 3, 5 + i % 4) for i, c in enumerate(channels)]
    rows += [(f"{a} > {b}", 2, 3) for a, b in zip(channels[::2], channels[1::2], strict=True)]
    journeys = paths(rows)
    auto = fit(journeys, n_permutations=3000)
    assert auto.diagnostics["n_sampled_coalitions"] == 1
    assert auto.diagnostics["largest_coalition"] == 22
    assert set(auto.table.index) == set(channels)
    errors = auto.extras["shapley_standard_errors"]["conversions"]
    assert (errors > 0).all()  # the 22-channel coalition touches every channel
    exact = fit(journeys, method="exact")
    assert exact.diagnostics["n_sampled_coalitions"] == 0
    gap = (auto.table["conversions"] - exact.table["conversions"]).abs()
    assert (gap <= 3 * errors).all()
    for result in (auto, exact):
        assert result.table["conversions"].sum() == pytest.approx(journeys.total_conversions)
    # subset_conversions has a closed form: the long journey's 6 conversions, 6/22 each.
    split = credit(journeys, value="subset_conversions")
    assert split["ch00"] == pytest.approx(6 / 22 + 1 + 2 / 2)


def test_custom_game_above_the_limit_is_sampled_with_standard_errors():
    channels = [f"k{i}" for i in range(8)]
    journeys = paths([(" > ".join(channels), 10, 0)])
    weights = {c: i + 1.0 for i, c in enumerate(channels)}

    def additive(coalition):  # additive game: Shapley value = own weight, exactly
        return sum(weights[c] for c in coalition)

    sampled = fit(journeys, value=additive, max_exact_channels=5, n_permutations=50)
    exact = fit(journeys, value=additive)
    expected = {c: 10 * w / sum(weights.values()) for c, w in weights.items()}
    assert exact.table["conversions"].to_dict() == pytest.approx(expected)
    assert sampled.table["conversions"].to_dict() == pytest.approx(expected)  # no noise here
    assert sampled.diagnostics["n_sampled_coalitions"] == 1


def test_custom_game_refuses_exact_above_25_channels_and_a_worthless_grand_coalition():
    from causality.errors import EstimationError

    channels = [f"k{i:02d}" for i in range(26)]
    journeys = paths([(" > ".join(channels), 1, 0)])
    with pytest.raises(ConfigurationError, match="method='auto'"):
        fit(journeys, value=len, method="exact")
    with pytest.raises(EstimationError, match="grand coalition"):
        fit(paths([("A > B", 1, 0)]), value=lambda coalition: 0.0)


def test_more_than_64_channels_exact_and_sampled():
    # Bitmasks span two 64-bit words here; both estimators must still find every subset.
    channels = [f"x{i:03d}" for i in range(70)]
    rows = [
        (f"{channels[i]} > {channels[(i * 7) % 70]} > {channels[69 - i]}", 1 + i % 4, i % 5)
        for i in range(70)
    ]
    rows += [(channels[i], 1, 2) for i in range(0, 70, 3)]
    table = pd.DataFrame(rows, columns=["path", "conversions", "nulls"])
    journeys = ca.Journeys.from_paths(table)
    exact = fit(journeys)
    expected = brute_force_coalition_rate(table)
    assert exact.table["conversions"].to_dict() == pytest.approx(
        {c: expected.get(c, 0.0) for c in exact.table.index}, rel=1e-10, abs=1e-10
    )
    sampled = fit(journeys, method="sampled", n_permutations=400)
    gap = (sampled.table["conversions"] - exact.table["conversions"]).abs()
    assert (gap <= 3 * sampled.extras["shapley_standard_errors"]["conversions"] + 1e-12).all()


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_a_batch_of_replicates_equals_replicates_one_at_a_time(wide_paths, method):
    # The estimator is vectorised over bootstrap replicates: rows must not interact.
    # (Batches run the subset-pair products in single precision, hence rtol 1e-5.)
    model = Shapley(method=method, n_permutations=100)
    data = model._prepare(wide_paths)
    rng = np.random.default_rng(0)
    conv = rng.poisson(data.conversions, size=(4, data.n_records)).astype(float)
    nulls = rng.poisson(data.nulls, size=(4, data.n_records)).astype(float)
    value = conv * 3.5
    batch = model._credit(data, conv, value, nulls)
    for row in range(4):
        one = model._credit(data, conv[row : row + 1], value[row : row + 1], nulls[row : row + 1])
        np.testing.assert_allclose(batch[0][row], one[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batch[1][row], one[1][0], rtol=1e-5, atol=1e-5)


# -- ordered Shapley -------------------------------------------------------------------------
def test_ordered_shapley_credits_touch_positions_and_adds_up():
    # subset_conversions: "A > B > A" converts 4 -> A 2 (1 at position 1, 1 at position 3),
    # B 2 at position 2; "B" converts 1 -> B 1 at position 1.
    journeys = paths([("A > B > A", 4, 1), ("B", 1, 2)])
    result = fit(journeys, value="subset_conversions", ordered=True)
    by_position = result.extras["shapley_by_position"]["conversions"]
    assert by_position.to_dict() == pytest.approx(
        {("A", 1): 1.0, ("A", 3): 1.0, ("B", 1): 1.0, ("B", 2): 2.0}
    )
    rate = fit(journeys, ordered=True)
    # ordered=True keeps path-level records (it needs positions); credit is unchanged.
    plain = fit(journeys).table[["conversions", "value"]]
    pd.testing.assert_frame_equal(rate.table[["conversions", "value"]], plain)
    summed = rate.extras["shapley_by_position"].groupby(level="channel").sum()
    pd.testing.assert_series_equal(
        summed["conversions"],
        rate.table["conversions"],
        check_names=False,
        check_index_type=False,
    )


# -- reference numbers ---------------------------------------------------------------------
def test_coalition_rate_equals_marketing_attribution_models(data_csv):
    reference = pd.read_csv(REFERENCE / "shapley_mam.csv")
    provenance = json.loads((REFERENCE / "shapley_mam.json").read_text())
    toy = pd.DataFrame(provenance["toy_table"])
    distinct = data_csv["path"].str.split(" > ").map(lambda p: len(set(p)))
    small = data_csv[distinct <= 4]
    inputs = {
        "toy": ca.Journeys.from_paths(toy),
        "data_csv_small": ca.Journeys.from_paths(
            small,
            conversions="total_conversions",
            value="total_conversion_value",
            nulls="total_null",
        ),
    }
    for name, journeys in inputs.items():
        theirs = reference[reference["dataset"] == name].set_index("channel")
        ours = fit(journeys).table.loc[theirs.index]
        np.testing.assert_allclose(ours["conversions"], theirs["conversions"], rtol=1e-9)
        np.testing.assert_allclose(ours["value"], theirs["value"], rtol=1e-9)


@pytest.mark.parametrize("value", ["coalition_rate", "subset_conversions"])
def test_channelattribution_data_csv_sums_to_its_conversions(data_csv, value):
    journeys = ca.Journeys.from_paths(
        data_csv,
        conversions="total_conversions",
        value="total_conversion_value",
        nulls="total_null",
    )
    result = fit(journeys, value=value, n_bootstrap=20)
    assert result.table["conversions"].sum() == pytest.approx(19_785, rel=1e-12)
    assert result.table["value"].sum() == pytest.approx(journeys.total_value, rel=1e-12)
    assert len(result.table) == 12


# -- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"value": "foo"}, "value"),
        ({"method": "bar"}, "method"),
        ({"n_permutations": 1}, "n_permutations"),
        ({"max_exact_channels": 0}, "max_exact_channels"),
        ({"ordered": "yes"}, "ordered"),
        ({"value": "subset_conversions", "method": "sampled"}, "sampled"),
        ({"value": len, "ordered": True}, "ordered"),
    ],
)
def test_bad_parameters_name_the_parameter(params, name):
    with pytest.raises(ConfigurationError, match=name):
        Shapley(**params)


def test_value_error_lists_the_allowed_values():
    with pytest.raises(ConfigurationError, match=r"coalition_rate.*subset_conversions"):
        Shapley(value="foo")


def test_param_schema_describes_value_as_a_string_choice():
    schema = Shapley.param_schema()["properties"]
    assert schema["value"]["type"] == "string"
    assert set(schema["value"]["enum"]) == {"coalition_rate", "subset_conversions"}
    assert schema["value"]["default"] == "coalition_rate"
    assert set(schema["method"]["enum"]) == {"auto", "exact", "sampled"}


def test_only_coalition_rate_reads_non_converting_journeys():
    assert Shapley.uses_nulls is True
    assert Shapley().uses_nulls is True
    assert Shapley(value="subset_conversions").uses_nulls is False
    assert Shapley(value=len).uses_nulls is False


def test_result_round_trips_with_standard_errors(wide_paths):
    result = fit(wide_paths, method="sampled", n_permutations=50, ordered=True)
    restored = AttributionResult.from_dict(json.loads(json.dumps(result.to_dict())))
    pd.testing.assert_frame_equal(
        restored.extras["shapley_standard_errors"], result.extras["shapley_standard_errors"]
    )
    assert restored.diagnostics["n_sampled_coalitions"] > 0
