"""The model's numerical building blocks against hand-computed or brute-force values.

None of these tests samples, so they need neither PyMC nor a compiled model.
"""

import numpy as np
import pandas as pd
import pytest

from causality.errors import ConfigurationError
from causality.models.bayes import counterfactual, sccs
from causality.models.bayes.cells import Cells, aggregate
from causality.models.bayes.decay import DecayProfile, mix_decays
from causality.models.bayes.design import UserDays, adstock
from causality.models.bayes.lift import normalise_lift_tests, population_users


def _user_days(touches, *, n_users, n_days, end, converted, n_channels=2, unattributed=0.0):
    """A UserDays by hand: touches as (user, day, channel) triples, everyone at risk from 0,
    converters converting on their ``end`` day."""
    user, day, code = (np.array(x, dtype=np.int64) for x in zip(*touches, strict=True))
    first = np.full(n_users, n_days)
    np.minimum.at(first, user, day)
    converted = np.asarray(converted)
    end = np.asarray(end)
    return UserDays(
        channels=tuple(f"c{i}" for i in range(n_channels)),
        n_users=n_users,
        n_days=n_days,
        day0=pd.Timestamp("2024-01-01"),
        touch_user=user,
        touch_day=day,
        touch_code=code,
        start=np.zeros(n_users, dtype=np.int64),
        end=end,
        first_touch=first,
        converted=converted,
        first_conversion=np.where(converted, end, n_days),
        conversion_user=np.flatnonzero(converted),
        conversion_day=end[converted],
        conversion_count=np.ones(converted.sum()),
        cell=np.zeros(n_users, dtype=np.int64),
        cell_matrix=np.zeros((1, 0)),
        cell_columns=(),
        dow=np.arange(n_days) % 7,
        value_per_conversion=1.0,
        unattributed=unattributed,
    )


def test_aggregate_counts_every_person_day_once():
    # User 0: touched by c0 on day 1, converts on day 3 (at risk days 0-3).
    # User 1: touched by c1 on day 0 and day 2, never converts (at risk days 0-4).
    ud = _user_days(
        [(0, 1, 0), (1, 0, 1), (1, 2, 1)], n_users=2, n_days=5, end=[3, 4], converted=[True, False]
    )
    by_path = aggregate(ud, [0.0, 0.0])
    cells = by_path.collapse()
    assert cells.at_risk.sum() == by_path.at_risk.sum() == 4 + 5
    assert cells.conversions.sum() == 1.0
    # With no decay a channel is "on" only on its touch days: c0 one day, c1 two days.
    assert cells.at_risk[cells.response[:, 0] > 0].sum() == 1
    assert cells.at_risk[cells.response[:, 1] > 0].sum() == 2
    # The conversion (day 3, a Thursday) happened with nothing on.
    converted = cells.conversions > 0
    assert cells.response[converted].sum() == 0 and cells.dow[converted].tolist() == [3]
    # Path lengths are touches so far: user 1 has 1 touch on days 0-1, 2 on days 2-4.
    assert by_path.at_risk[by_path.path_length == 2].sum() == 3


def test_aggregate_spreads_unattributed_conversions_before_first_touches():
    ud = _user_days(
        [(0, 2, 0), (1, 3, 1)],
        n_users=2,
        n_days=5,
        end=[4, 4],
        converted=[False, False],
        unattributed=3.0,
    )
    cells = aggregate(ud, [0.5, 0.5]).collapse()
    assert cells.conversions.sum() == pytest.approx(3.0)
    # 2 + 3 days before the first touches; each gets 3/5 of a conversion, no other day any.
    rate = cells.conversions / cells.at_risk
    assert cells.at_risk[rate > 0].sum() == 5
    np.testing.assert_allclose(rate[rate > 0], 0.6)


def test_adstock_is_the_geometric_recursion():
    touches = np.array([[1, 0, 0, 2, 0, 0, 0, 1]], dtype=np.float32)
    expected = np.zeros_like(touches)
    for t in range(touches.shape[1]):
        expected[0, t] = touches[0, t] + (0.7 * expected[0, t - 1] if t else 0.0)
    np.testing.assert_allclose(adstock(touches.copy(), 0.7), expected, rtol=1e-6)


def test_conditional_fit_matches_the_closed_form():
    # 100 converters observed 10 days, exposed on days 0-1; 60 convert on an exposed day.
    # One binary exposure, no day-of-week variation: exp(beta) = (60 / 2) / (40 / 8) = 6.
    g = np.zeros((100, 10, 1), dtype=np.float32)
    g[:, :2, 0] = 1.0
    events = np.zeros((100, 10))
    events[:60, 0] = events[60:, 5] = 1
    theta, info, _ = sccs.conditional_fit(g, events, np.zeros(100, dtype=int), np.zeros(10, int))
    assert theta[0] == pytest.approx(np.log(6.0), abs=0.01)  # the weak ridge moves it ~1e-3
    # Observed information of a binary exposure: sum over cases of p (1 - p), p = 12/20.
    assert info[0, 0] == pytest.approx(100 * 0.6 * 0.4, rel=1e-3)


def test_conditional_fit_ignores_days_before_the_first_touch():
    # Same cases, but the days before day 2 are not observed: exposure on days 2-3.
    g = np.zeros((100, 10, 1), dtype=np.float32)
    g[:, 2:4, 0] = 1.0
    g[:, :2, 0] = 5.0  # would dominate the fit if these days counted
    events = np.zeros((100, 10))
    events[:60, 2] = events[60:, 7] = 1
    theta, _, _ = sccs.conditional_fit(g, events, np.full(100, 2), np.zeros(10, int))
    assert theta[0] == pytest.approx(np.log((60 / 2) / (40 / 6)), abs=0.01)


def test_conditional_fit_counts_every_repeat_purchase():
    # 50 buyers, each buying 3 times: twice on their 2 exposed days of 10, once unexposed.
    # Pooled over purchases: exp(beta) = (2 / 2) / (1 / 8) = 8, as for 150 single buyers.
    g = np.zeros((50, 10, 1), dtype=np.float32)
    g[:, :2, 0] = 1.0
    events = np.zeros((50, 10))
    events[:, 0] = events[:, 1] = events[:, 6] = 1
    theta, info, _ = sccs.conditional_fit(g, events, np.zeros(50, dtype=int), np.zeros(10, int))
    assert theta[0] == pytest.approx(np.log(8.0), abs=0.01)
    assert info[0, 0] == pytest.approx(150 * (2 / 3) * (1 / 3), rel=1e-3)


def test_incremental_matches_the_rates_difference_row_by_row():
    # Lifts add as excess relative rates (causality.models.bayes.link).
    rng = np.random.default_rng(0)
    n_rows, n_channels, n_draws = 300, 3, 50
    levels = np.array([0.4, 1.0, 1.9])
    response = np.where(rng.random((n_rows, n_channels)) < 0.4, rng.choice(levels, (n_rows, 3)), 0)
    rows = Cells(
        response=response,
        covariates=rng.normal(size=(n_rows, 1)),
        dow=rng.integers(0, 7, n_rows),
        path_length=np.zeros(n_rows, dtype=int),
        at_risk=rng.integers(1, 500, n_rows).astype(float),
        conversions=np.zeros(n_rows),
        group=np.arange(n_rows),
        # No days after (as with repeat purchases): the first-order sum is the estimand.
        days_after=np.zeros(n_rows),
        days_after_sq=np.zeros(n_rows),
    )
    draws = counterfactual.Draws(
        intercept=rng.normal(-6, 0.1, n_draws),
        gamma=rng.normal(0, 0.2, (n_draws, 1)),
        dow=rng.normal(0, 0.1, (n_draws, 7)),
        beta=rng.normal([1.5, 0.5, -0.3], 0.1, (n_draws, n_channels)),
        bias=rng.normal([0.5, 0.0, 0.0], 0.1, (n_draws, n_channels)),  # targeted channel 0
    )
    per_channel, every = counterfactual.incremental(rows, draws)
    # By hand: the rate uses the slopes (effect plus the bias of who is exposed); removing
    # c takes c's causal excess rate off these users' base rate (rate / causal multiplier).
    organic = np.exp(
        draws.intercept[:, None] + draws.gamma @ rows.covariates.T + draws.dow[:, rows.dow]
    )
    slope = draws.beta + draws.bias
    rate = organic * (1.0 + np.expm1(slope) @ response.T)
    excess = np.expm1(draws.beta)[:, None, :] * response[None, :, :]  # (S, rows, C)
    base = rate / (1.0 + excess.sum(axis=2))
    for c in range(n_channels):
        without = base * (1.0 + excess.sum(axis=2) - excess[:, :, c])
        np.testing.assert_allclose(per_channel[:, c], (rate - without) @ rows.at_risk, rtol=1e-10)
    np.testing.assert_allclose(every, (rate - base) @ rows.at_risk, rtol=1e-10)
    np.testing.assert_allclose(
        counterfactual.expected_conversions(rows, draws), rate * rows.at_risk, rtol=1e-10
    )


def test_incremental_is_the_difference_of_window_probabilities():
    # N users at risk from day 0 of T, exposed every day (g = 1) with lift L on a base
    # daily hazard b: P(buy in the window) is 1 - (1 - b (1 + L))^T with the channel and
    # 1 - (1 - b)^T without. Expected person-days at risk on day t: N (1 - b (1 + L))^t.
    n_users, n_days, b, lift = 10_000.0, 60, 0.01, 1.0
    day = np.arange(n_days)
    at_risk = n_users * (1 - b * (1 + lift)) ** day
    left = n_days - 1.0 - day
    rows = Cells(
        response=np.ones((n_days, 1)),
        covariates=np.zeros((n_days, 0)),
        dow=day % 7,
        path_length=np.zeros(n_days, dtype=int),
        at_risk=at_risk,
        conversions=np.zeros(n_days),
        group=day,
        days_after=at_risk * left,
        days_after_sq=at_risk * left**2,
    )
    draws = counterfactual.Draws(
        intercept=np.array([np.log(b)]),
        gamma=np.zeros((1, 0)),
        dow=np.zeros((1, 7)),
        beta=np.array([[np.log1p(lift)]]),
        bias=np.zeros((1, 1)),
    )
    exact = n_users * ((1 - b) ** n_days - (1 - b * (1 + lift)) ** n_days)
    per_channel, every = counterfactual.incremental(rows, draws)
    assert per_channel[0, 0] == pytest.approx(exact, rel=0.01)
    assert every[0] == pytest.approx(exact, rel=0.01)
    # Without the survival term the sum overstates it by the window's purchase probability.
    first_order = b * lift * at_risk.sum()
    assert first_order > 1.2 * exact


def test_decay_weights_combine_the_profile_with_the_short_carryover_prior():
    grid = np.array([0.0, 0.5])
    profile = DecayProfile(grid=grid, chosen=np.array([0.0]), scores=np.zeros((1, 2)))
    # Equal likelihood: the Beta(1, 3) prior's (1 - d)^2 decides, 1 : 0.25.
    np.testing.assert_allclose(profile.weights(), [[0.8, 0.2]])
    scores = np.array([[0.0, np.log(4.0)]])  # the data favour 0.5 four to one: even
    np.testing.assert_allclose(DecayProfile(grid, np.array([0.0]), scores).weights(), [[0.5, 0.5]])


def test_mixing_decays_adds_the_between_candidate_variance_around_the_estimate():
    grid = np.array([0.0, 0.5, 0.7])
    scores = np.array([[0.0, np.log(4.0), -50.0], [0.0, -50.0, -50.0]])
    profile = DecayProfile(
        grid=grid,
        chosen=np.array([0.0, 0.0]),
        scores=scores,
        attributable=np.array([[100.0, 140.0, 500.0], [30.0, 60.0, 90.0]]),
    )
    draws = np.full((20_000, 2), 100.0)
    mixed = mix_decays(draws, profile, seed=0)
    # Channel 0: candidates 0 and 0.5 equally likely, shifts 0 and +40 centred on their
    # mean: the draws become 100 -+ 20, each half the time (mean 100, SD 20).
    assert set(np.unique(mixed[:, 0])) == {80.0, 120.0}
    assert (mixed[:, 0] == 80.0).mean() == pytest.approx(0.5, abs=0.02)  # 5 SE
    assert mixed[:, 0].std() == pytest.approx(20.0, rel=0.01)
    # Channel 1: all weight on the chosen decay: unchanged.
    np.testing.assert_allclose(mixed[:, 1], 100.0)
    np.testing.assert_array_equal(mix_decays(draws, profile, seed=0), mixed)
    # The population profile carries no attributable conversions: nothing to spread.
    assert mix_decays(draws, DecayProfile(grid, profile.chosen, scores), seed=0) is draws


def test_population_filter_selects_users_by_attribute():
    frame = pd.DataFrame({"user": ["a", "b", "c", "d"], "region": ["N", "S", "N", "E"]})
    assert population_users("region == 'N'", frame).tolist() == [0, 2]
    assert population_users("region in ['S', 'E']", frame).tolist() == [1, 3]
    assert population_users(None, frame) is None and population_users(5000.0, frame) is None
    with pytest.raises(ConfigurationError, match="could not be evaluated"):
        population_users("nope == 1", frame)
    with pytest.raises(ConfigurationError, match="selects no analysed user"):
        population_users("region == 'W'", frame)


def test_lift_test_population_accepts_sizes_filters_and_empties():
    tests = normalise_lift_tests(
        pd.DataFrame(
            {
                "channel": ["A", "B", "C"],
                "incremental_conversions": [10.0, -2.0, 0.0],
                "standard_error": [5.0, 5.0, 5.0],
                "population": [100_000, "device == 'mobile'", None],
            }
        )
    )
    assert tests["population"].tolist() == [100_000.0, "device == 'mobile'", None]
    with pytest.raises(ConfigurationError, match="population"):
        normalise_lift_tests(tests.assign(population=[-1, None, None]))


def test_repeat_purchases_keep_buyers_at_risk_and_count_every_purchase():
    import causality as ca
    from causality.models.bayes.design import user_days

    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = [
        ("u1", 0, 9, "touch", "A"),
        ("u1", 1, 10, "conversion", None),
        ("u1", 1, 11, "touch", "B"),  # after the purchase that day: not exposure that day
        ("u1", 3, 10, "touch", "A"),
        ("u1", 4, 10, "conversion", None),
        ("u2", 0, 9, "touch", "B"),
        ("u2", 5, 9, "touch", "A"),
    ]
    events = pd.DataFrame(
        [(u, start + pd.Timedelta(days=d, hours=h), e, c) for u, d, h, e, c in rows],
        columns=["user_id", "timestamp", "event_type", "channel"],
    )
    journeys = ca.Journeys.from_events(events, lookback=None)
    once = user_days(journeys)
    again = user_days(journeys, repeat_purchases=True)
    u1 = 0  # users are coded in sorted order
    assert once.end[u1] == 1 and again.end[u1] == once.n_days - 1 == 5
    assert once.conversion_day.tolist() == [1] and again.conversion_day.tolist() == [1, 4]
    # The touch after the first purchase on day 1 is dropped in both; the rest are kept.
    assert (once.touch_user == u1).sum() == (again.touch_user == u1).sum() == 2
    assert aggregate(again, [0.0, 0.0]).conversions.sum() == 2
    assert aggregate(once, [0.0, 0.0]).conversions.sum() == 1
    cases = sccs.case_days(again)
    assert cases.events.sum() == 2 and cases.events[u1, [1, 4]].tolist() == [1, 1]


def test_attributable_conversions_carry_the_poisson_noise_of_the_conversions():
    # One fixed effect vector in every draw: the spread left is the conversions' own noise,
    # Gamma(count, 1) weights with mean count and variance count per conversion day.
    rng = np.random.default_rng(1)
    g = np.where(rng.random((400, 2)) < 0.5, 1.0, 0.0)
    count = rng.integers(1, 3, 400).astype(float)
    evidence = sccs.Evidence(np.zeros(2), np.eye(2), g, count)
    beta = np.tile([1.0, 0.2], (4000, 1))
    per_channel, every = sccs.attributable(evidence, beta, seed=3)
    # Lifts add: a day's share due to c is its excess rate over the day's rate multiplier.
    excess = np.expm1(beta[0]) * g  # (days, channels)
    fraction = excess / (1.0 + excess.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(per_channel.mean(axis=0), count @ fraction, rtol=0.01)
    np.testing.assert_allclose(per_channel.var(axis=0), count @ fraction**2, rtol=0.1)
    np.testing.assert_allclose(every.mean(), count @ fraction.sum(axis=1), rtol=0.01)
    again, _ = sccs.attributable(evidence, beta, seed=3)
    np.testing.assert_array_equal(per_channel, again)


def test_conditional_fit_recovers_additive_lifts_at_any_adstock():
    # Each case converts on one of 30 days with probability proportional to its rate
    # multiplier 1 + 3 g (lift 3 per unit of response, g in {0, 0.5, 1, 2}): the effect is
    # log(4) whatever the mix of adstock levels, as the excess-relative-rate link says.
    rng = np.random.default_rng(7)
    n_cases, n_days = 4000, 30
    g = rng.choice([0.0, 0.5, 1.0, 2.0], p=[0.7, 0.1, 0.1, 0.1], size=(n_cases, n_days, 1))
    rate = 1.0 + 3.0 * g[:, :, 0]
    day = (rate.cumsum(axis=1) / rate.sum(axis=1, keepdims=True) > rng.random((n_cases, 1))).argmax(
        axis=1
    )
    events = np.zeros((n_cases, n_days))
    events[np.arange(n_cases), day] = 1.0
    theta, info, _ = sccs.conditional_fit(
        g.astype(np.float32), events, np.zeros(n_cases, dtype=int), np.zeros(n_days, dtype=int)
    )
    se = np.sqrt(np.linalg.inv(info)[0, 0])
    assert abs(theta[0] - np.log(4.0)) < 3 * se
    assert se < 0.1  # and the test is sharp enough to tell log(4) from a log link's answer
