"""A report with the Bayesian incrementality model: baseline, r-hat and ESS shown (slow: MCMC)."""

import warnings

import pytest

import causality as ca

from .htmltables import tables


@pytest.mark.slow
def test_incrementality_report_shows_baseline_and_convergence():
    journeys = ca.Journeys.from_events(ca.datasets.load_example(), lookback=None)
    quick = ca.registry.get_model("incrementality").contract_params
    with warnings.catch_warnings():  # few draws may not converge: the report must say so
        warnings.simplefilter("ignore", ca.errors.ConvergenceWarning)
        bayes = ca.attribute(journeys, "incrementality", **quick)
    lc = ca.attribute(journeys, "last_click", n_bootstrap=20)
    rep = ca.report([lc, bayes], journeys=journeys)
    page = rep.to_html()
    (_, rows) = tables(page, "channel-table")[1]
    baseline = [row for row in rows if row[0][0] == "Organic baseline (not credited)"]
    assert float(baseline[0][1][1]["data-value"]) == bayes.baseline["conversions"]
    assert "largest r-hat" in page and "smallest bulk ESS" in page
    flagged = '<dt class="warn">largest r-hat</dt>' in page
    assert flagged == (bayes.diagnostics["r_hat_max"] > 1.01)
    assert f"{bayes.diagnostics['n_draws_total']:,} posterior draws" in page
    # Allocation and incrementality credit side by side; the report's JSON keeps both.
    assert ca.Report.from_json(rep.to_json()).results[1].baseline.equals(bayes.baseline)
