"""Speed and memory of building journeys and of last-click with bootstrap intervals.

Usage::

    python benchmarks/bench_journeys.py                 # 1M and 10M events
    python benchmarks/bench_journeys.py --sizes 1e5     # quick

Each size runs in a fresh subprocess so peak memory (ru_maxrss) belongs to it alone.
Per size it prints: events/s of `Journeys.from_events` (median of --repeats runs),
the median time of `last_click` without intervals and with 200 bootstrap replicates
from the same Journeys, alternating them, and their ratio, and peak memory. "cold" is
a first fit on the journeys (the path table is built inside the fit, as for a user
fitting once); "warm" reuses the path table and credit fractions cached on the
journeys by an earlier fit, so its point estimate is a single matrix product.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd

CHANNELS = [
    "Paid Search",
    "Paid Social",
    "Email",
    "Display",
    "Organic Search",
    "Direct",
    "Affiliates",
    "Video",
]


def synthetic_events(n_events: int, seed: int = 0) -> pd.DataFrame:
    """An event log of ``n_events`` rows: ~10 events per user, ~5% conversions, 90 days."""
    rng = np.random.default_rng(seed)
    n_users = max(1, n_events // 10)
    is_conv = rng.random(n_events) < 0.05
    return pd.DataFrame(
        {
            "user_id": rng.integers(0, n_users, n_events),
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 90 * 86_400, n_events), unit="s"),
            "event_type": pd.Categorical.from_codes(
                is_conv.astype(np.int8), ["touch", "conversion"]
            ),
            "channel": pd.Categorical.from_codes(
                rng.integers(0, len(CHANNELS), n_events).astype(np.int8), CHANNELS
            ),
            "value": np.where(is_conv, rng.lognormal(3.5, 0.7, n_events), np.nan),
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(n_events: int, repeats: int) -> dict:
    import causality as ca

    events = synthetic_events(n_events)
    input_mb = events.memory_usage(deep=True).sum() / 2**20
    after_input_mb = _peak_mb()
    build = []
    for _ in range(repeats):
        start = time.perf_counter()
        journeys = ca.Journeys.from_events(events, lookback="30D")
        build.append(time.perf_counter() - start)
    timings: dict[str, list[float]] = {"cold_0": [], "cold_200": [], "warm_0": [], "warm_200": []}
    for _ in range(repeats):  # alternate the runs so machine noise hits all alike
        for label in timings:
            state, replicates = label.split("_")
            if state == "cold":
                # A first fit on these journeys: the path table is built inside the fit.
                journeys._cache.clear()
            start = time.perf_counter()
            ca.attribute(journeys, "last_click", n_bootstrap=int(replicates))
            timings[label].append(time.perf_counter() - start)
    return {
        "events": n_events,
        "journeys": len(journeys),
        "distinct_paths": journeys.by_path().n_records,
        "from_events_s": statistics.median(build),
        "events_per_s": n_events / statistics.median(build),
        **{f"last_click_{k}_s": statistics.median(v) for k, v in timings.items()},
        "bootstrap_ratio_cold": statistics.median(
            b / p for b, p in zip(timings["cold_200"], timings["cold_0"], strict=True)
        ),
        "bootstrap_ratio_warm": statistics.median(
            b / p for b, p in zip(timings["warm_200"], timings["warm_0"], strict=True)
        ),
        "input_frame_mb": input_mb,
        "peak_before_build_mb": after_input_mb,
        "peak_mb": _peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(int(args.child), args.repeats)))
        return
    rows = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--repeats", str(args.repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    table = pd.DataFrame(rows).set_index("events")
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.float_format", "{:,.3f}".format
    ):
        print(table.T)


if __name__ == "__main__":
    main()
