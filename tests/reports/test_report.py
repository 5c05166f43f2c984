"""What a report says, on hand-computed cases, and the errors it raises."""

import dataclasses

import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError
from causality.reports import comparisons


@pytest.fixture(scope="module")
def small():
    """A > B (4 conversions), B (2; 3 nulls), A (2; 1 null): every number by hand."""
    paths = pd.DataFrame(
        {
            "path": ["A > B", "B", "A"],
            "conversions": [4, 2, 2],
            "nulls": [0, 3, 1],
            "value": [40.0, 10.0, 30.0],
        }
    )
    journeys = ca.Journeys.from_paths(paths)
    results = [ca.attribute(journeys, m, n_bootstrap=0) for m in ("last_click", "linear")]
    return journeys, results


def test_last_click_findings_by_hand(small):
    _, results = small
    rep = ca.report(results)
    # last click: B 6/8, A 2/8; linear: A 4/8, B 4/8.
    assert rep.order == ["B", "A"]  # mean shares 62.5% and 37.5%
    shares, label = rep.last_click
    assert label == "last_click"
    assert shares.loc["B"].tolist() == [0.75, 0.5] and shares.loc["A"].tolist() == [0.25, 0.5]
    assert rep.findings == [
        "Last click gives B 75.0% of attributed conversions; the other model gives it 50.0%.",
        "Last click gives A 25.0% of attributed conversions; the other model gives it 50.0%.",
    ]


def test_no_findings_without_last_click_or_when_it_agrees(small):
    journeys, results = small
    assert ca.report(results[1:]).findings == []
    assert ca.report(results[:1]).findings == []
    first = ca.attribute(journeys, "first_click", n_bootstrap=0)  # A 6/8, B 2/8
    mixed = comparisons.last_click_findings(
        pd.DataFrame({"lc": [0.5, 0.5], "x": [0.4, 0.6], "y": [0.6, 0.4]}, index=["A", "B"]),
        "lc",
    )
    assert mixed == []  # last click inside the others' range everywhere
    assert len(ca.report([results[0], first]).findings) == 2


def test_top_paths_by_hand(small):
    journeys, results = small
    paths = ca.report(results, journeys=journeys, n_paths=2).paths
    assert paths["path"].tolist() == [("A", "B"), ("B",)]  # B's 3 nulls rank it before A
    assert paths["conversions"].tolist() == [4, 2]
    assert paths["conversion_rate"].tolist() == [1.0, 0.4]
    assert paths["share"].tolist() == [0.5, 0.25]
    assert paths["value"].tolist() == [40.0, 10.0]


def test_truth_comparison_by_hand(small):
    _, results = small
    truth = pd.DataFrame({"incremental_conversions": [2, 5, 1]}, index=["A", "B", "C"])
    rep = ca.report(results, truth=truth)
    comparison = rep.truth_comparison.set_index(["model", "channel"])
    assert comparison.loc[("last_click", "A"), "covered"]  # 2 in [2, 2]
    assert not comparison.loc[("last_click", "B"), "covered"]
    assert comparison.loc[("linear", "B"), "error"] == -1.0
    assert comparison.loc[("linear", "C"), "estimate"] == 0.0  # never credited
    summary = comparisons.truth_summary(rep.truth_comparison)
    assert summary.loc["last_click", "mean_absolute_error"] == pytest.approx(2 / 3)
    assert summary.loc["linear", "mean_absolute_error"] == pytest.approx(4 / 3)
    assert summary["covered"].tolist() == [1, 0] and summary["channels"].tolist() == [3, 3]
    assert rep.truth.name == "incremental_conversions"


def test_headline_of_a_path_table(small):
    journeys, results = small
    h = ca.report(results).headline
    assert h["n_journeys"] == len(journeys) == 12
    assert h["conversions"] == 8 and h["value"] == 80.0 and h["period_start"] is None


def test_repeated_models_get_unique_labels(small):
    _, results = small
    rep = ca.report([results[1], results[1]])
    assert rep.labels == ("linear", "linear#2")
    assert rep.channel_table()["model"].unique().tolist() == ["linear", "linear#2"]


def test_results_of_different_journeys_are_refused(small, example_results):
    _, results = small
    with pytest.raises(ConfigurationError, match=r"'linear' was not fitted on the same journeys"):
        ca.report([results[0], example_results[1]])
    shifted = dataclasses.replace(results[1], total_value=results[1].total_value + 1)
    with pytest.raises(ConfigurationError, match="total_value"):
        ca.report([results[0], shifted])


def test_journeys_must_be_the_fitted_ones(small, example_journeys):
    _, results = small
    with pytest.raises(ConfigurationError, match="journeys= are not the journeys"):
        ca.report(results, journeys=example_journeys)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: ca.report([]), "non-empty list"),
        (lambda r: ca.report([r[0], "markov"]), r"items \[1\] are not results"),
        (lambda r: ca.report("markov"), "takes an AttributionResult"),
        (lambda r: ca.report(r, title=3), "title must be a string"),
        (lambda r: ca.report(r, truth=pd.DataFrame({"x": [1.0]})), "incremental_conversions"),
        (lambda r: ca.report(r, truth=[1, 2]), "truth= must be"),
    ],
)
def test_bad_arguments_are_clear_errors(small, call, message):
    _, results = small
    with pytest.raises(ConfigurationError, match=message):
        call(results)


def test_bad_n_paths_is_a_clear_error(small):
    journeys, results = small
    with pytest.raises(ConfigurationError, match="n_paths"):
        ca.report(results, journeys=journeys, n_paths=0)


def test_methods_explain_each_model_in_plain_words(small):
    _, results = small
    methods = ca.report(results).methods
    assert [m["label"] for m in methods] == ["last_click", "linear"]
    assert methods[0]["description"] == ca.registry.get_model("last_click").description
    assert "last channel" in methods[0]["plain_words"]
    assert methods[1]["intervals"] == "No intervals were computed (n_bootstrap=0)."


def test_report_repr_names_models_and_channels(small):
    _, results = small
    assert repr(ca.report(results, title="T")) == (
        "<Report 'T': 2 models (last_click, linear), 2 channels>"
    )


def test_truth_for_some_channels_only(small):
    _, results = small
    rep = ca.report(results, truth=pd.Series({"A": 2.0, "C": 1.0}, name="true"))
    summary = comparisons.truth_summary(rep.truth_comparison)
    assert summary["channels"].tolist() == [2, 2]  # B has no truth: left out of the scores
    page = rep.to_html()
    row_b = page.split('<table class="truth-table">')[1].split('<td class="text">B</td>')[1]
    assert row_b.startswith("<td>—</td>")  # unknown truth shown as a dash, not as zero
