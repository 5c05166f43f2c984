"""The accuracy benchmark on a tiny configuration: its metrics obey hand-computable facts and
it writes its outputs. The script is imported by path (benchmarks/ is not a package)."""

import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import EstimationError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy.py"
MODELS = ("last_click", "linear")


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(accuracy):
    return accuracy.Settings(
        scenarios=("confounded",), models=MODELS, seeds=(0,), n_users=3_000, n_bootstrap=20
    )


@pytest.fixture(scope="module")
def raw(accuracy, tiny):
    return accuracy.run(tiny, log=lambda message: None)


def test_one_row_per_model_scenario_and_seed(raw):
    assert list(raw["model"]) == list(MODELS)
    assert (raw["status"] == "ok").all()
    assert set(raw["scenario"]) == {"confounded"}


def test_allocation_models_have_100_percent_baseline_error(raw):
    assert (raw["kind"] == "allocation").all()
    assert np.allclose(raw["baseline_error"], 1.0)
    assert raw["baseline_covered"].isna().all()


def test_metrics_lie_in_their_ranges(raw):
    for column in ("coverage_incremental", "coverage_shapley"):
        assert raw[column].between(0, 1).all()
    assert (raw["wape_incremental"] >= 0).all() and (raw["wape_shapley"] >= 0).all()
    assert raw["share_wape"].between(0, 2).all()
    assert raw["spearman"].between(-1, 1).all()
    assert (raw["relative_width"] > 0).all()  # 20 bootstrap replicates give real intervals
    assert (raw["fit_seconds"] > 0).all() and (raw["journeys_seconds"] > 0).all()


def test_wape_is_at_least_the_relative_error_of_the_total(raw):
    # Triangle inequality: sum |c - t| >= |sum c - sum t|.
    total_error = (raw["credited_conversions"] - raw["true_incremental_conversions"]).abs()
    assert (
        raw["wape_incremental"] >= total_error / raw["true_incremental_conversions"] - 1e-12
    ).all()


def test_allocation_credit_sums_to_attributed_conversions(raw, tiny):
    sim = ca.simulate("confounded", n_users=tiny.n_users, n_days=tiny.n_days, seed=0)
    journeys = ca.Journeys.from_events(sim.events, lookback=tiny.lookback)
    assert np.allclose(raw["credited_conversions"], journeys.total_conversions)


def test_last_click_credits_the_placebo_in_the_confounded_scenario(raw):
    last_click = raw.set_index("model").loc["last_click"]
    assert last_click["placebo_conversions"] > 0
    assert 0 < last_click["placebo_share"] < 1


def test_metric_functions_on_hand_computed_examples(accuracy):
    credit, truth = np.array([3.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0])
    assert accuracy.wape(credit, truth) == pytest.approx((2 + 0 + 2) / 4)
    # Shares 0.75/0.25/0 against 0.25/0.25/0.5.
    assert accuracy.share_wape(credit, truth) == pytest.approx(0.5 + 0 + 0.5)
    assert accuracy.share_wape(2 * truth, truth) == pytest.approx(0.0)
    lower, upper = np.array([0.0, 2.0, 1.0]), np.array([2.0, 3.0, 3.0])
    assert accuracy.covered(lower, upper, truth) == pytest.approx(2 / 3)
    assert accuracy.spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == 1.0
    assert np.isnan(accuracy.spearman(np.ones(3), truth))


def test_incrementality_baseline_error_and_coverage(accuracy, tiny):
    sim = ca.simulate("confounded", n_users=tiny.n_users, n_days=tiny.n_days, seed=0)
    result = ca.attribute(ca.Journeys.from_events(sim.events), "last_click", n_bootstrap=0)
    true, expected = sim.baseline_conversions, sim.expected_baseline_conversions
    baseline = pd.Series(
        {
            "conversions": 1.5 * true,
            "conversions_lower": expected - 1,
            "conversions_upper": 2 * true,
        }
    )
    scored = accuracy.score(
        dataclasses.replace(result, kind="incrementality", baseline=baseline), sim
    )
    assert scored["baseline_error"] == pytest.approx(0.5)
    assert scored["baseline_covered"] == 1.0
    assert np.isnan(scored["wape_shapley"]) and np.isnan(scored["coverage_shapley"])


def test_a_model_raising_causality_error_is_reported_as_failed(accuracy, tiny, monkeypatch):
    real = ca.attribute

    def attribute(journeys, name, **params):
        if name == "linear":
            raise EstimationError("sampler diverged")
        return real(journeys, name, **params)

    monkeypatch.setattr(accuracy.ca, "attribute", attribute)
    raw = accuracy.run(tiny, log=lambda message: None)
    status = raw.set_index("model")["status"]
    assert status["last_click"] == "ok" and status["linear"] == "failed"
    assert "sampler diverged" in raw.set_index("model").loc["linear", "error"]
    assert "failed: EstimationError" in accuracy.full_table(accuracy.aggregate(raw))


def test_quick_mode_passes_contract_params_and_only_accepted_settings(accuracy, monkeypatch):
    class Sampler:
        kind = "incrementality"
        contract_params: ClassVar[dict] = {"n_draws": 50}

        @staticmethod
        def param_schema():
            return {"properties": {"ci_level": {}, "seed": {}, "n_draws": {}}}

    monkeypatch.setattr(accuracy.ca.registry, "get_model", lambda name: Sampler)
    quick = accuracy.model_params("sampler", accuracy.Settings.quick(), seed=3)
    assert quick == {"ci_level": 0.9, "seed": 3, "n_draws": 50}
    assert "n_draws" not in accuracy.model_params("sampler", accuracy.Settings(), seed=3)


def test_main_writes_markdown_figure_and_csv(accuracy, tmp_path, capsys):
    argv = ["--scenarios", "confounded", "--models", *MODELS, "--seeds", "0"]
    argv += ["--n-users", "3000", "--n-bootstrap", "20", "--out", str(tmp_path)]
    assert accuracy.main(argv) == 0
    csv = pd.read_csv(tmp_path / "accuracy.csv")
    assert len(csv) == len(MODELS) and set(csv["model"]) == set(MODELS)
    markdown = (tmp_path / "accuracy.md").read_text()
    assert "nproc" in markdown and "--n-users 3000" in markdown and "`last_click`" in markdown
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "| `linear` |" in capsys.readouterr().out
