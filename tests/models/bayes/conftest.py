import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")

import causality as ca
from causality.errors import ConvergenceWarning, DataWarning
from causality.models.bayes import BayesianIncrementality

SMALL = {"n_draws": 200, "n_tune": 200, "n_chains": 2}


def fit(journeys, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianIncrementality(**{**SMALL, **params}).fit(journeys)


@pytest.fixture(scope="session")
def small_sim():
    return ca.simulate("clean", n_users=8_000, n_days=40, seed=3)


@pytest.fixture(scope="session")
def small_journeys(small_sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return ca.Journeys.from_events(small_sim.events, lookback=None)


@pytest.fixture(scope="session")
def small_result(small_journeys):
    return fit(small_journeys)


def one_exposure_events(n_per_day=1000, exposed_converters=100, unexposed_converters=300):
    """14 days, one channel; user u is touched once, on day u % 14 (10:00).

    Of each day's users, ``exposed_converters`` convert that day at 12:00 (exposed day)
    and ``unexposed_converters`` (touch days 0-12) convert on day 13 at 12:00.
    """
    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for d in range(14):
        for i in range(n_per_day):
            user = f"u{d:02d}-{i:05d}"
            rows.append((user, start + pd.Timedelta(days=d, hours=10), "touch", "A"))
            if i < exposed_converters:
                rows.append((user, start + pd.Timedelta(days=d, hours=12), "conversion", None))
            elif d < 13 and i < exposed_converters + unexposed_converters:
                rows.append((user, start + pd.Timedelta(days=13, hours=12), "conversion", None))
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "channel"])


def hand_mle(n_per_day=1000, exposed_converters=100, unexposed_converters=300):
    """Log rate ratio of converting on an exposed vs an unexposed day at risk (the Poisson
    MLE of a log-link model with one binary exposure)."""
    k1 = n1 = k0 = n0 = 0
    for d in range(14):
        for i in range(n_per_day):
            n1 += 1  # at risk on the touch day (nobody converts before their touch)
            if i < exposed_converters:
                k1 += 1
                n0 += d  # unexposed days before the touch day
            elif d < 13 and i < exposed_converters + unexposed_converters:
                k0 += 1
                n0 += 13  # days 0..13 except the touch day
            else:
                n0 += 13
    return np.log(k1 / n1) - np.log(k0 / n0)
