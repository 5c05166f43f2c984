"""Bootstrap intervals from the base class."""

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError, ModelNotFoundError


@pytest.fixture(scope="module")
def journeys():
    return ca.Journeys.from_events(ca.datasets.load_example())


def test_interval_width_matches_binomial_theory_for_last_click():
    # One path per channel, 1,000 conversions each: a Poisson bootstrap of a count n has
    # sd sqrt(n), so the 90% interval spans about 2 * 1.645 * sqrt(1000) = 104.
    table = pd.DataFrame({"path": ["A", "B"], "conversions": [1000, 1000], "nulls": [0, 0]})
    result = ca.attribute(table, "last_click", n_bootstrap=2000, ci_level=0.9)
    width = result.table["conversions_upper"] - result.table["conversions_lower"]
    np.testing.assert_allclose(width, 2 * 1.645 * np.sqrt(1000), rtol=0.12)


def test_higher_ci_level_gives_wider_intervals(journeys):
    narrow = ca.attribute(journeys, "linear", ci_level=0.5).table
    wide = ca.attribute(journeys, "linear", ci_level=0.99).table
    assert np.all(
        (wide["conversions_upper"] - wide["conversions_lower"])
        > (narrow["conversions_upper"] - narrow["conversions_lower"])
    )


def test_different_seeds_give_different_intervals_but_same_estimates(journeys):
    a = ca.attribute(journeys, "linear", seed=1).table
    b = ca.attribute(journeys, "linear", seed=2).table
    pd.testing.assert_series_equal(a["conversions"], b["conversions"])
    assert not np.allclose(a["conversions_lower"], b["conversions_lower"])


def test_seed_none_is_recorded_and_still_gives_intervals(journeys):
    result = ca.attribute(journeys, "last_click", seed=None, n_bootstrap=50)
    assert result.seed is None
    assert (result.table["conversions_upper"] > result.table["conversions_lower"]).all()


def test_bootstrap_batches_give_the_same_result_as_one_batch(journeys, monkeypatch):
    one = ca.attribute(journeys, "time_decay", n_bootstrap=30).table
    monkeypatch.setattr("causality.models.base.BOOTSTRAP_BATCH_CELLS", 1)
    many = ca.attribute(journeys, "time_decay", n_bootstrap=30).table
    pd.testing.assert_frame_equal(one, many)


def test_confidence_labels_follow_documented_thresholds():
    from causality.results.table import confidence_labels

    labels = confidence_labels(
        np.array([10.0, 10.0, 10.0, 0.0, 0.0]),
        np.array([8.0, 6.0, 2.0, 0.0, 0.0]),
        np.array([12.0, 15.0, 15.0, 0.0, 1.0]),
    )
    assert labels.tolist() == ["high", "medium", "low", "high", "low"]


def test_attribute_rejects_unknown_parameters_listing_valid_ones(journeys):
    with pytest.raises(ConfigurationError, match=r"alpha.*ci_level"):
        ca.attribute(journeys, "last_click", alpha=0.1)


def test_attribute_unknown_model_lists_available_models(journeys):
    with pytest.raises(ModelNotFoundError, match="last_click") as info:
        ca.attribute(journeys, "markvo")
    assert isinstance(info.value, ValueError) and isinstance(info.value, LookupError)


def test_attribute_accepts_a_model_instance(journeys):
    direct = ca.attribute(journeys, ca.models.Linear(n_bootstrap=0))
    assert direct.model == "linear"
    with pytest.raises(ConfigurationError):
        ca.attribute(journeys, ca.models.Linear(), seed=3)


def test_models_are_frozen_and_refitting_is_idempotent(journeys):
    model = ca.models.LastClick(n_bootstrap=20)
    with pytest.raises(AttributeError):
        model.ci_level = 0.5
    pd.testing.assert_frame_equal(model.fit(journeys).table, model.fit(journeys).table)


def test_param_schema_describes_model_parameters():
    schema = ca.models.PositionBased.param_schema()
    assert schema["properties"]["first"] == {"type": "number", "default": 0.4}
    assert schema["properties"]["seed"]["type"] == ["integer", "null"]
    assert schema["additionalProperties"] is False


def test_poisson_counts_have_poisson_mean_and_variance():
    from causality.models.base import poisson_counts

    rates = np.array([0.0, 0.5, 1.0, 1.0, 3.0, 40.0, 2e4])
    draws = poisson_counts(np.random.default_rng(7), rates, 40_000)
    assert draws.shape == (40_000, len(rates))
    se = np.sqrt(rates / 40_000)
    assert np.all(np.abs(draws.mean(axis=0) - rates) <= 5 * se + 1e-12)
    np.testing.assert_allclose(draws.var(axis=0)[1:], rates[1:], rtol=0.05)
    assert np.all(draws[:, 0] == 0) and np.all(draws == np.round(draws))


@pytest.mark.parametrize("n_rates", [1000, 5000])  # CDF tables, then numpy's sampler
def test_poisson_counts_with_many_distinct_rates_keep_each_cell_in_place(n_rates):
    from causality.models.base import PoissonSampler, poisson_counts

    rates = np.random.default_rng(0).permutation(np.linspace(0.1, 50, n_rates))
    assert (len(PoissonSampler(rates).rates) > PoissonSampler.MAX_TABLES) == (n_rates > 4096)
    draws = poisson_counts(np.random.default_rng(3), rates, 2000)
    np.testing.assert_allclose(draws.mean(axis=0).sum(), rates.sum(), rtol=0.01)
    # Per cell: the mean follows that cell's own rate, wherever it sits in the row.
    z = (draws.mean(axis=0) - rates) / np.sqrt(rates / 2000)
    assert np.abs(z).max() < 5.5 and abs(np.corrcoef(draws.mean(axis=0), rates)[0, 1]) > 0.99


def test_progress_is_a_display_setting_not_a_parameter(capsys):
    from causality.models.heuristics import Linear

    journeys = ca.Journeys.from_paths(
        pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "nulls": [2, 2]})
    )
    shown = Linear(n_bootstrap=50, progress=True).fit(journeys)
    assert "linear bootstrap" in capsys.readouterr().err
    silent = Linear(n_bootstrap=50, progress=False).fit(journeys)
    assert capsys.readouterr().err == ""
    assert "progress" not in shown.params and "progress" not in Linear.param_schema()["properties"]
    pd.testing.assert_frame_equal(shown.table, silent.table)
