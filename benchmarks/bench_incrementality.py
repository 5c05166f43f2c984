"""Speed of the Bayesian incrementality model (`BayesianIncrementality`).

Usage::

    python benchmarks/bench_incrementality.py                 # 100k users, 4 x 1000 draws
    python benchmarks/bench_incrementality.py --users 1000000 --repeats 1
    python benchmarks/bench_incrementality.py --quick         # CI: 10k users, 2 x 200 draws

Times, in one process: the first fit (compilation included), then ``--repeats`` warm fits
of the same data (the compiled model is cached per shape), with the median and the time of
each stage (journeys, design and aggregation, sampling, counterfactuals). Public API only,
plus the model class until it is registered.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import causality as ca
from causality.errors import ConvergenceWarning, DataWarning
from causality.models.bayes import BayesianIncrementality


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenario", default="clean")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.draws, args.tune, args.chains, args.repeats = 10_000, 200, 200, 2, 1
    start = time.perf_counter()
    sim = ca.simulate(args.scenario, n_users=args.users, n_days=args.days, seed=0)
    print(f"simulate: {time.perf_counter() - start:.1f}s", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        start = time.perf_counter()
        journeys = ca.Journeys.from_events(sim.events, lookback=None)
    print(f"journeys: {time.perf_counter() - start:.1f}s ({journeys})")
    model = BayesianIncrementality(n_draws=args.draws, n_tune=args.tune, n_chains=args.chains)
    times = []
    for i in range(1 + args.repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            result = model.fit(journeys)
            times.append(time.perf_counter() - start)
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.diagnostics["seconds"].items())
        label = "cold (compilation included)" if i == 0 else "warm"
        print(f"fit {i} {label}: {times[-1]:.1f}s [{stages}] rows={result.diagnostics['n_rows']}")
    warm = statistics.median(times[1:]) if len(times) > 1 else float("nan")
    print(
        f"{args.users:,} users x {args.days} days, {args.chains} chains x {args.draws} draws "
        f"(+{args.tune} tune): cold {times[0]:.1f}s, warm median {warm:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
