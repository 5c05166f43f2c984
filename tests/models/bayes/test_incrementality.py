import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError, ConvergenceWarning, JourneyValidationError
from causality.models.bayes import BayesianIncrementality
from causality.models.bayes.priors import DEFAULT_PRIORS, merge_priors
from causality.results import AttributionResult
from causality.testing import parametrize_with_checks

from .conftest import SMALL, fit, hand_mle, one_exposure_events


@parametrize_with_checks([BayesianIncrementality])
def test_contract(model, check):
    check(model)


def test_import_stays_light():
    code = (
        "import sys, causality, causality.models.bayes; "
        "print([m for m in ('pymc', 'arviz', 'pytensor', 'nutpie') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_posterior_median_matches_closed_form_rate_ratio():
    journeys = ca.Journeys.from_events(one_exposure_events(), lookback=None)
    # The population likelihood alone: the hand MLE is a population comparison.
    result = fit(
        journeys,
        decay=0.0,
        priors={"dow_sd": 0.01, "channel_scale": 5.0},
        n_draws=300,
        unmeasured_confounding="ignore",
    )
    beta = float(result.posterior.posterior["beta"].median())
    assert beta == pytest.approx(hand_mle(), abs=0.08)
    # Incremental conversions on exposed days: k1 - n1 * p0-hazard, through the hazards.
    assert result.extras["estimand"] == "direct"
    effects = result.extras["channel_effects"]
    assert effects.loc["A", "decay"] == 0.0


def test_result_has_baseline_diagnostics_and_checks(small_result, small_journeys):
    r = small_result
    assert r.kind == "incrementality"
    assert list(r.baseline.index) == [
        "conversions",
        "conversions_lower",
        "conversions_upper",
        "value",
        "value_lower",
        "value_upper",
    ]
    assert r.baseline["conversions_lower"] <= r.baseline["conversions"]
    assert r.baseline["conversions"] <= r.baseline["conversions_upper"]
    for key in ("r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences"):
        assert key in r.diagnostics
    assert {"ppc_path_length", "ppc_channel", "channel_effects"} <= set(r.extras)
    assert set(r.extras["ppc_channel"].index) <= set(small_journeys.channels)
    np.testing.assert_allclose(
        r.table["share"], r.table["conversions"] / r.total_conversions, rtol=1e-12
    )
    # The decay candidates' weights: one row per channel over the grid, summing to 1, and
    # the chosen decay among the candidates with weight.
    weights = r.extras["decay_weights"]
    assert list(weights.columns) == [f"{d:g}" for d in r.params["decay_grid"]]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    chosen = r.extras["channel_effects"]["decay"].map(lambda d: f"{d:g}")
    assert all(weights.loc[c, chosen[c]] > 0 for c in weights.index)


def test_placebo_interval_contains_zero(small_result):
    row = small_result.table.loc["Display Retargeting"]
    assert row["conversions_lower"] <= 0.0 <= row["conversions_upper"]


def test_same_seed_same_result(small_journeys, small_result):
    again = fit(small_journeys)
    pd.testing.assert_frame_equal(again.table, small_result.table)


def test_lift_tests_pull_towards_the_test_and_tighter_pulls_more(small_journeys, small_result):
    channel = "Paid Social"
    before = small_result.table.loc[channel, "conversions"]
    assert before > 2
    loose = pd.DataFrame(
        {"channel": [channel], "incremental_conversions": [0.0], "standard_error": [before / 2]}
    )
    tight = loose.assign(standard_error=before / 10)
    after_loose = fit(small_journeys, lift_tests=loose).table.loc[channel, "conversions"]
    tight_result = fit(small_journeys, lift_tests=tight)
    after_tight = tight_result.table.loc[channel, "conversions"]
    assert after_tight < after_loose < before
    assert "implied" in tight_result.extras["lift_tests"].columns


def test_negative_and_simulated_lift_tests_accepted(small_sim):
    frame = small_sim.lift_test("Email", holdout=0.1).to_frame()
    model = BayesianIncrementality(lift_tests=frame)
    assert model.lift_tests["population"].iloc[0] == small_sim.lift_test("Email").population
    negative = frame.assign(incremental_conversions=-5.0)
    assert (
        BayesianIncrementality(lift_tests=negative).lift_tests["incremental_conversions"][0] == -5
    )
    # params() is JSON-safe and round-trips through from_params.
    params = json.loads(json.dumps(model.params()))
    again = BayesianIncrementality.from_params(params)
    assert again.lift_tests["channel"].tolist() == ["Email"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"method": "gibbs"}, "method"),
        ({"n_draws": 0}, "n_draws"),
        ({"n_chains": -1}, "n_chains"),
        ({"priors": {"nope": 1.0}}, "nope"),
        ({"priors": {"channel_scale": -1.0}}, "channel_scale"),
        ({"decay": 1.5}, "decay"),
        ({"risk_start": "never"}, "risk_start"),
        ({"design": "matched"}, "design"),
        ({"lift_tests": pd.DataFrame({"channel": ["Email"]})}, "incremental_conversions"),
        (
            {
                "lift_tests": pd.DataFrame(
                    {
                        "channel": ["Email"],
                        "incremental_conversions": [3.0],
                        "standard_error": [0.0],
                    }
                )
            },
            "standard_error",
        ),
    ],
)
def test_bad_configuration_names_the_field(params, field):
    with pytest.raises(ConfigurationError, match=field):
        BayesianIncrementality(**params)


def test_unknown_lift_channel_and_covariate_raise(small_journeys):
    tests = pd.DataFrame(
        {"channel": ["Nope"], "incremental_conversions": [1.0], "standard_error": [1.0]}
    )
    with pytest.raises(ConfigurationError, match="channel"):
        BayesianIncrementality(lift_tests=tests, **SMALL).fit(small_journeys)
    with pytest.raises(ConfigurationError, match="prior_visits"):
        BayesianIncrementality(covariates=["intent"], **SMALL).fit(small_journeys)


def test_path_tables_are_refused():
    journeys = ca.Journeys.from_paths(ca.testing.contract_paths())
    with pytest.raises(JourneyValidationError, match="timestamp"):
        BayesianIncrementality(**SMALL).fit(journeys)


def test_priors_merge_with_defaults():
    merged = merge_priors({"channel_scale": 0.5})
    assert merged["channel_scale"] == 0.5
    assert merged["intercept_sd"] == DEFAULT_PRIORS["intercept_sd"]


def test_save_load_round_trip_with_posterior(small_result, tmp_path):
    path = small_result.save(tmp_path / "result.json")
    loaded = AttributionResult.load(path)
    pd.testing.assert_frame_equal(loaded.table, small_result.table, check_dtype=False)
    pd.testing.assert_series_equal(loaded.baseline, small_result.baseline, check_names=False)
    assert loaded.posterior is not None
    np.testing.assert_allclose(
        loaded.posterior.posterior["beta"].values, small_result.posterior.posterior["beta"].values
    )


def test_poor_convergence_warns_not_raises(small_journeys):
    with pytest.warns(ConvergenceWarning):
        BayesianIncrementality(n_draws=20, n_tune=20, n_chains=2).fit(small_journeys)


def test_approximate_method_warns(small_journeys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(ca.errors.CausalityWarning, match="approximate"):
            result = BayesianIncrementality(
                method="advi", n_draws=200, sampler={"n_iterations": 2000}
            ).fit(small_journeys)
    assert result.diagnostics["approximate"] is True


@pytest.mark.slow
def test_recovers_clean_simulation():
    sim = ca.simulate("clean", n_users=50_000, n_days=60, seed=0)
    journeys = ca.Journeys.from_events(sim.events, lookback=None)
    result = fit(journeys, n_draws=500, n_tune=500)
    truth = sim.truth["expected_direct_conversions"]
    est = result.table["conversions"].reindex(truth.index)
    wape = float(np.abs(est - truth).sum() / truth.sum())
    assert wape < 0.35
    base_err = abs(result.baseline["conversions"] - sim.baseline_conversions)
    assert base_err / sim.baseline_conversions < 0.1


def test_self_controlled_design_fits_and_compares(small_journeys, small_result):
    from causality.models.bayes import compare_designs

    result = fit(small_journeys, design="self_controlled")
    assert result.extras["design"] == "self_controlled"
    assert result.extras["estimand"] == "direct"
    reaction = result.extras["exposure_reaction"]
    assert set(reaction.columns) == {"rate_before", "rate_after", "ratio"}
    table = result.table
    assert np.isfinite(table.drop(columns="confidence").to_numpy(float)).all()
    placebo = table.loc["Display Retargeting"]
    assert placebo["conversions_lower"] <= 0.0 <= placebo["conversions_upper"]
    both = compare_designs(small_result, result)
    assert {"hazard", "self_controlled", "disagree"} <= set(both.columns)


def test_self_controlled_refuses_lift_tests():
    tests = pd.DataFrame(
        {"channel": ["Email"], "incremental_conversions": [1.0], "standard_error": [1.0]}
    )
    with pytest.raises(ConfigurationError, match="lift_tests"):
        BayesianIncrementality(design="self_controlled", lift_tests=tests)


def test_lift_test_population_filter_sums_the_implied_lift_over_those_users(small_journeys):
    test = pd.DataFrame(
        {"channel": ["Paid Social"], "incremental_conversions": [20.0], "standard_error": [50.0]}
    )
    everyone = fit(small_journeys, lift_tests=test).extras["lift_tests"]
    north = fit(small_journeys, lift_tests=test.assign(population="region == 'North'"))
    ratio = north.extras["lift_tests"]["implied"][0] / everyone["implied"][0]
    assert 0.1 < ratio < 0.45  # a quarter of the users live in the North
    assert north.params["lift_tests"][0]["population"] == "region == 'North'"


def test_refits_on_other_data_reuse_the_compiled_model(small_journeys, small_result):
    from causality.models.bayes import sampling

    half = small_journeys.take(np.arange(len(small_journeys) // 2))
    fit(small_journeys, design="self_controlled")
    compiled = len(sampling._COMPILED)
    fit(half, design="self_controlled")
    fit(half)  # the hazard design, compiled for small_result
    assert len(sampling._COMPILED) == compiled


def test_progress_bar_shows_only_when_asked(small_journeys, capsys):
    fit(small_journeys, progress=True)
    assert "sampling" in capsys.readouterr().err
    fit(small_journeys)  # progress=None: pytest's stderr is no terminal, so silent
    assert "sampling" not in capsys.readouterr().err
