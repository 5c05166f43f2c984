"""The scale benchmark's generator is seeded and its pipeline agrees with the pandas path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import causality as ca

pytest.importorskip("duckdb")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_is_seeded_time_ordered_and_valid(bench, tmp_path):
    first, again, other = (tmp_path / f"{name}.parquet" for name in ("a", "b", "c"))
    bench.write_events(first, 30_000, seed=1)
    bench.write_events(again, 30_000, seed=1)
    bench.write_events(other, 30_000, seed=2, n_channels=20)

    events = pd.read_parquet(first)
    assert events.equals(pd.read_parquet(again))
    assert not events.equals(pd.read_parquet(other))
    assert len(events) == 30_000
    assert events["timestamp"].is_monotonic_increasing
    assert events["event_type"].value_counts(normalize=True)["touch"] == pytest.approx(0.9, 0.05)
    assert pd.read_parquet(other)["channel"].nunique() == 20


def test_one_run_measures_the_journeys_pandas_would_build(bench, tmp_path):
    path = tmp_path / "events.parquet"
    bench.write_events(path, 30_000, seed=0)

    row = bench.run_one(path, memory_limit="500MB", threads=1, n_bootstrap=5)

    expected = ca.Journeys.from_events(pq.read_table(path).to_pandas(), lookback="30D")
    assert row["events"] == 30_000
    assert row["journeys"] == len(expected)
    assert row["distinct_paths"] == len(expected.paths())
    assert row["total_s"] > 0 and row["peak_rss_mb"] > 0
