"""Bootstrap replicates in threads: the same result for any n_jobs, batch size or order.

Every block of replicates draws from a stream of its own (`replicate_streams`), so how
blocks are split into batches and which thread computes a batch cannot change a number.
Estimators not marked thread-safe (plug-ins, Shapley with a user's value function) run
in the calling thread.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError
from causality.models import base
from causality.models.base import PoissonSampler, replicate_streams


def path_table(seed: int, n: int = 300, channels: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [f"c{k}" for k in range(channels)]
    return pd.DataFrame(
        {
            "path": [" > ".join(rng.choice(names, size=int(rng.integers(1, 6)))) for _ in range(n)],
            "conversions": rng.poisson(0.7, n),
            "value": rng.uniform(0, 80, n).round(2),
            "nulls": rng.poisson(1.5, n),
        }
    )


MODELS = [
    ("markov", {}),
    ("markov", {"allocation": "journey"}),
    ("markov", {"order": 2, "allocation": "journey"}),  # in the calling thread
    ("shapley", {}),
    ("shapley", {"value": "subset_conversions"}),
    ("linear", {}),
    ("last_click", {}),
]


@pytest.mark.parametrize(("model", "params"), MODELS)
def test_result_is_the_same_for_any_number_of_threads_and_batch_size(model, params, monkeypatch):
    journeys = ca.Journeys.from_paths(path_table(1))
    one = ca.attribute(journeys, model, n_bootstrap=53, n_jobs=1, **params).table
    # Batches of one block spread over four threads.
    monkeypatch.setattr(base, "BOOTSTRAP_BATCH_CELLS", 1)
    four = ca.attribute(journeys, model, n_bootstrap=53, n_jobs=4, **params).table
    pd.testing.assert_frame_equal(one, four)
    # The intervals are real bootstrap intervals, not the point estimate repeated.
    assert (one["conversions_upper"] > one["conversions_lower"]).any()


def test_batches_run_in_several_threads_when_allowed(monkeypatch):
    journeys = ca.Journeys.from_paths(path_table(2))
    seen: set[str] = set()
    credit = ca.models.Markov._credit_replicates

    def spy(self, *args):
        seen.add(threading.current_thread().name)
        return credit(self, *args)

    monkeypatch.setattr(ca.models.Markov, "_credit_replicates", spy)
    monkeypatch.setattr(base, "BOOTSTRAP_BATCH_CELLS", 1)  # one block per batch
    ca.attribute(journeys, "markov", n_bootstrap=40, n_jobs=3)
    assert any(name.startswith("causality-bootstrap") for name in seen)


def test_estimators_not_marked_thread_safe_stay_in_the_calling_thread(monkeypatch):
    journeys = ca.Journeys.from_paths(path_table(3))
    seen: set[int] = set()

    def value(coalition: frozenset) -> float:  # a user's function: maybe not thread-safe
        seen.add(threading.get_ident())
        return float(len(coalition))

    model = ca.models.Shapley(value=value, n_bootstrap=12, n_jobs=4)
    assert not model.parallel_replicates
    monkeypatch.setattr(base, "BOOTSTRAP_BATCH_CELLS", 1)
    model.fit(journeys)
    assert seen == {threading.get_ident()}


def test_n_jobs_is_an_execution_setting_not_a_parameter():
    model = ca.models.Markov(n_jobs=2)
    assert "n_jobs" not in model.params()
    assert "n_jobs" not in ca.models.Markov.param_schema()["properties"]
    assert model == ca.models.Markov(n_jobs=1)
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ConfigurationError, match="n_jobs"):
            ca.models.Markov(n_jobs=bad)


def test_workers_default_to_the_cpus_the_process_may_use():
    assert base.bootstrap_workers(3) == 3
    assert base.bootstrap_workers(None) >= 1


def test_replicate_streams_are_independent_of_how_many_are_asked_for():
    few = [rng.random() for rng in replicate_streams(7, 3)]
    many = [rng.random() for rng in replicate_streams(7, 10)]
    assert few == many[:3]
    assert len(set(many)) == 10
    assert [rng.random() for rng in replicate_streams(8, 3)] != few


def test_replicate_lanes_are_a_power_of_two_within_the_block_budget(monkeypatch):
    assert base.replicate_lanes(300, np.float32) == base.MAX_REPLICATE_LANES
    monkeypatch.setattr(base, "REPLICATE_BLOCK_BYTES", 1000 * 4 * 11)
    assert base.replicate_lanes(1000, np.float32) == 8
    assert base.replicate_lanes(1000, np.float64) == 4
    assert base.replicate_lanes(10**9, np.float64) == 1  # never fewer than one


def test_draw_from_one_stream_equals_numpy_for_many_distinct_rates():
    # Past MAX_TABLES distinct rates every cell comes from numpy, record by record.
    rates = np.linspace(0.01, 30.0, PoissonSampler.MAX_TABLES + 10)
    drawn = PoissonSampler(rates).draw(np.random.default_rng(3), 4)
    expected = np.random.default_rng(3).poisson(rates[:, None], (len(rates), 4)).T
    np.testing.assert_array_equal(drawn, expected)


def test_markov_uses_threads_at_order_one_only():
    # Higher orders' batched solves ran slower in two threads than in one.
    assert ca.models.Markov(order=1).parallel_replicates
    assert not ca.models.Markov(order=2).parallel_replicates
    assert not ca.models.Markov(order=3).parallel_replicates
