"""Unmeasured confounding: the within-person anchor against the simulator's known truth.

In the ``confounded`` world, Display Retargeting (no effect at all) reaches high-intent
users, so a population comparison credits it with many conversions. The default hazard
design anchors each channel's effect on the converters' within-person evidence and so must
put the placebo's interval at zero, flag the targeted channels, and warn.
"""

import warnings

import numpy as np
import pytest

import causality as ca
from causality.errors import DataWarning

from .conftest import fit

PLACEBO = "Display Retargeting"


@pytest.fixture(scope="module")
def confounded():
    sim = ca.simulate("confounded", n_users=20_000, n_days=40, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        journeys = ca.Journeys.from_events(sim.events, lookback=None)
    return sim, journeys


def _wape(result, sim):
    truth = sim.truth["expected_direct_conversions"]
    estimate = result.table["conversions"].reindex(truth.index)
    return float(np.abs(estimate - truth).sum() / truth.sum())


def test_unobserved_intent_is_flagged_and_the_placebo_reaches_zero(confounded):
    sim, journeys = confounded
    with pytest.warns(DataWarning, match="disagree") as caught:
        result = fit(journeys)
    placebo = result.table.loc[PLACEBO]
    assert placebo["conversions_lower"] <= 0.0 <= placebo["conversions_upper"]
    table = result.extras["confounding"]
    assert set(table.columns) >= {"population_effect", "within_person_effect", "bias", "flagged"}
    # The placebo's population slope is pure bias: exposure follows intent (and visits).
    assert table.loc[PLACEBO, "bias"] > 0.3 and table.loc[PLACEBO, "flagged"]
    assert PLACEBO in str(caught[0].message)
    assert _wape(result, sim) < 0.5


def test_clean_world_raises_no_confounding_alarm(small_result):
    table = small_result.extras["confounding"]
    assert not table["flagged"].any()
    np.testing.assert_allclose(table["bias"], 0.0, atol=0.3)


@pytest.mark.slow
def test_population_likelihood_alone_is_confidently_wrong_and_the_anchor_is_not(confounded):
    sim, journeys = confounded
    alone = fit(journeys, unmeasured_confounding="ignore")
    anchored = fit(journeys)
    # Population only: the placebo gets a tight interval far from zero.
    assert alone.table.loc[PLACEBO, "conversions_lower"] > 20
    assert "confounding" not in alone.extras
    assert _wape(anchored, sim) < _wape(alone, sim) / 2
    truth = sim.truth["expected_direct_conversions"]

    def coverage(result):
        t = result.table.reindex(truth.index)
        return float(((t["conversions_lower"] <= truth) & (truth <= t["conversions_upper"])).mean())

    assert coverage(anchored) > coverage(alone)
