"""Speed and accuracy of the Bayesian incrementality model (`BayesianIncrementality`).

Usage::

    python benchmarks/bench_incrementality.py speed                   # 100k users, 4 x 1000
    python benchmarks/bench_incrementality.py speed --users 1000000 --repeats 1
    python benchmarks/bench_incrementality.py speed --quick           # CI: 10k users, 2 x 200
    python benchmarks/bench_incrementality.py accuracy --seeds 0 1 2 3 4
    python benchmarks/bench_incrementality.py accuracy --quick        # CI: 10k users, 1 seed

``speed`` times, in one process, the first fit (compilation included), then ``--repeats``
warm fits of the same data (compiled models are cached), with the median and the time of
each stage (design and decays, sampling, counterfactuals, diagnostics).

``accuracy`` scores the model against the simulator's truth, per seed, on the issue's
criteria: the ``clean`` world; the ``confounded`` world with intent unobserved, with the
population likelihood alone (``unmeasured_confounding="ignore"``) and with the default
within-person anchor; with covariates that proxy intent (``prior_visits``, ``device``,
``region``); and with a lift test on each of the two channels the covariate fit flags as
most confounded (largest estimated bias), next to last click and Markov. It writes
``incrementality.csv`` (one row per seed, world and variant), ``incrementality.md``
(criteria table) and ``incrementality.png`` (forest plot of one confounded seed and the
coverage/error of each variant) to ``benchmarks/results``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import causality as ca
from causality.errors import ConvergenceWarning, DataWarning
from causality.models.bayes import BayesianIncrementality

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import PLACEBO, covered, spearman, wape

RESULTS = Path(__file__).resolve().parent / "results"
COVARIATES = ("prior_visits", "device", "region")
#: Share of users held out by each simulated lift test.
HOLDOUT = 0.5


# -- speed ------------------------------------------------------------------------------
def speed(args: argparse.Namespace) -> int:
    """Cold and warm fit times on one simulated data set."""
    if args.quick:
        args.users, args.draws, args.tune, args.chains, args.repeats = 10_000, 200, 200, 2, 1
    start = time.perf_counter()
    sim = ca.simulate(args.scenario, n_users=args.users, n_days=args.days, seed=0)
    print(f"simulate: {time.perf_counter() - start:.1f}s", file=sys.stderr)
    journeys = _journeys(sim)
    model = BayesianIncrementality(
        n_draws=args.draws, n_tune=args.tune, n_chains=args.chains, progress=False
    )
    times = []
    for i in range(1 + args.repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", DataWarning)
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


def _journeys(sim: ca.Simulation, lookback: str | None = None) -> ca.Journeys:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        start = time.perf_counter()
        journeys = ca.Journeys.from_events(sim.events, lookback=lookback)
    print(f"journeys ({lookback}): {time.perf_counter() - start:.1f}s {journeys}", file=sys.stderr)
    return journeys


# -- accuracy ---------------------------------------------------------------------------
def accuracy(args: argparse.Namespace) -> int:
    """Score every variant on every seed; write the raw table, the criteria and a figure."""
    if args.quick:
        args.users, args.seeds, args.draws, args.tune, args.chains = 10_000, [0], 300, 300, 2
    settings = {"n_draws": args.draws, "n_tune": args.tune, "n_chains": args.chains}
    rows, forest = [], None
    for seed in args.seeds:
        rows += _clean_seed(seed, args.users, settings)
        confounded, fits = _confounded_seed(seed, args.users, settings)
        rows += confounded
        forest = forest or fits
        pd.DataFrame(rows).to_csv(args.out / "incrementality.csv", index=False)
    raw = pd.DataFrame(rows)
    raw.to_csv(args.out / "incrementality.csv", index=False, float_format="%.6g")
    command = " ".join(["python benchmarks/bench_incrementality.py", *sys.argv[1:]])
    text = report(raw, args, command)
    (args.out / "incrementality.md").write_text(text)
    figure(raw, forest, args.out / "incrementality.png")
    print(text)
    return 0


def _fit(journeys: ca.Journeys, **params: Any) -> tuple[ca.AttributionResult, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DataWarning)
        start = time.perf_counter()
        result = BayesianIncrementality(progress=False, **params).fit(journeys)
    return result, time.perf_counter() - start


def score(result: ca.AttributionResult, sim: ca.Simulation) -> dict[str, Any]:
    """The criteria's metrics of one fit against the simulation's truth."""
    truth = sim.truth["expected_direct_conversions"]
    table = result.table.reindex(truth.index)
    est, lower, upper = (
        table[c].to_numpy(float) for c in ("conversions", "conversions_lower", "conversions_upper")
    )
    true = truth.to_numpy(float)
    out: dict[str, Any] = {
        "wape": wape(est, true),
        "spearman": spearman(est, true),
        "coverage": covered(lower, upper, true),
        "relative_width": float(np.mean((upper - lower)[true > 0] / true[true > 0])),
        "placebo_contains_zero": bool(
            table.loc[PLACEBO, "conversions_lower"]
            <= 0.0
            <= table.loc[PLACEBO, "conversions_upper"]
        ),
    }
    if result.baseline is not None:
        out["baseline_error"] = (
            abs(result.baseline["conversions"] - sim.baseline_conversions)
            / sim.baseline_conversions
        )
    if "r_hat_max" in result.diagnostics:
        out["r_hat_max"] = result.diagnostics["r_hat_max"]
    for channel in truth.index:
        out[f"err[{channel}]"] = float(table.loc[channel, "conversions"] - truth[channel])
    return out


def _clean_seed(seed: int, n_users: int, settings: dict[str, Any]) -> list[dict[str, Any]]:
    sim = ca.simulate("clean", n_users=n_users, n_days=60, seed=seed)
    result, seconds = _fit(_journeys(sim), seed=seed, **settings)
    print(f"clean seed {seed}: {seconds:.0f}s", file=sys.stderr)
    return [
        {
            "world": "clean",
            "variant": "default",
            "seed": seed,
            "seconds": seconds,
            **score(result, sim),
        }
    ]


def _confounded_seed(seed, n_users, settings):
    sim = ca.simulate("confounded", n_users=n_users, n_days=60, seed=seed)
    journeys, windowed = _journeys(sim), _journeys(sim, "30D")
    rows, fits = [], {}
    for name in ("last_click", "markov"):
        result = ca.attribute(windowed, name, seed=seed, n_bootstrap=100)
        rows.append({"world": "confounded", "variant": name, "seed": seed, **score(result, sim)})
    variants = {
        "intent unobserved, population only": {"unmeasured_confounding": "ignore"},
        "intent unobserved": {},
        "covariates": {"covariates": COVARIATES},
    }
    for label, params in variants.items():
        result, seconds = _fit(journeys, seed=seed, **settings, **params)
        fits[label] = result
        rows.append(
            {
                "world": "confounded",
                "variant": label,
                "seed": seed,
                "seconds": seconds,
                **score(result, sim),
            }
        )
        print(f"confounded seed {seed} {label}: {seconds:.0f}s", file=sys.stderr)
    bias = fits["covariates"].extras["confounding"]["bias"]
    tested = list(bias.sort_values(ascending=False).index[:2])
    tests = pd.concat(
        [sim.lift_test(c, holdout=HOLDOUT, seed=seed).to_frame(include_truth=True) for c in tested]
    )
    lift_tests = tests[["channel", "incremental_conversions", "standard_error"]]
    result, seconds = _fit(
        journeys, seed=seed, covariates=COVARIATES, lift_tests=lift_tests, **settings
    )
    fits["covariates + lift tests"] = result
    extra = {f"tested[{i}]": c for i, c in enumerate(tested)}
    extra.update(
        {
            f"lift_se[{c}]": se
            for c, se in zip(tests["channel"], tests["standard_error"], strict=True)
        }
    )
    rows.append(
        {
            "world": "confounded",
            "variant": "covariates + lift tests",
            "seed": seed,
            "seconds": seconds,
            **extra,
            **score(result, sim),
        }
    )
    fits["truth"] = sim.truth["expected_direct_conversions"]
    return rows, fits


def criteria(raw: pd.DataFrame) -> list[tuple[str, str, str, bool]]:
    """(criterion, target, measured, passed) for each of the issue's accuracy criteria."""
    clean = raw[(raw.world == "clean") & (raw.variant == "default")]
    conf = raw[raw.world == "confounded"]

    def mean(variant: str, column: str) -> float:
        return float(conf.loc[conf.variant == variant, column].mean())

    naive, anchored = "intent unobserved, population only", "intent unobserved"
    allocation = min(mean("last_click", "wape"), mean("markov", "wape"))
    tested_err, tested_se, after, before = _lift_errors(conf)
    defaults = raw[raw.variant.isin(["default", anchored, "covariates"])]
    placebo = float(defaults["placebo_contains_zero"].astype(bool).mean())
    coverage = (mean(naive, "coverage"), mean(anchored, "coverage"))
    return [
        (
            "clean: WAPE",
            "<= 15%",
            f"{clean.wape.mean():.1%} (seeds {clean.wape.min():.1%}-{clean.wape.max():.1%})",
            clean.wape.mean() <= 0.15,
        ),
        (
            "clean: Spearman",
            ">= 0.9",
            f"{clean.spearman.mean():.2f} (min {clean.spearman.min():.2f})",
            clean.spearman.mean() >= 0.9,
        ),
        (
            "clean: baseline error",
            "<= 10%",
            f"{clean.baseline_error.mean():.1%} (max {clean.baseline_error.max():.1%})",
            clean.baseline_error.max() <= 0.10,
        ),
        (
            "clean: 90% interval coverage",
            "85-95%",
            f"{clean.coverage.mean():.0%} of {len(clean) * 10} channel-seeds",
            0.85 <= clean.coverage.mean() <= 0.95,
        ),
        (
            "confounded + covariates: error vs last click and Markov",
            ">= 2x lower",
            f"WAPE {mean('covariates', 'wape'):.0%} vs {mean('last_click', 'wape'):.0%} and "
            f"{mean('markov', 'wape'):.0%} ({allocation / mean('covariates', 'wape'):.1f}x)",
            allocation >= 2 * mean("covariates", "wape"),
        ),
        (
            "confounded, intent unobserved: intervals widen rather than confidently wrong",
            "coverage near 90%",
            f"coverage {coverage[0]:.0%} (population only) -> {coverage[1]:.0%}; WAPE "
            f"{mean(naive, 'wape'):.0%} -> {mean(anchored, 'wape'):.0%}; relative width "
            f"{mean(naive, 'relative_width'):.2f} -> {mean(anchored, 'relative_width'):.2f}",
            coverage[1] > coverage[0] and coverage[1] >= 0.8,
        ),
        (
            "lift tests: the two tested channels' error",
            "~ the tests' SE",
            f"mean abs. error {np.mean(tested_err):.0f} vs mean SE {np.mean(tested_se):.0f}",
            bool(tested_err) and np.mean(tested_err) <= 1.5 * np.mean(tested_se),
        ),
        (
            "lift tests: untested channels",
            "no worse",
            f"sum of abs. errors {after:.0f} with the tests vs {before:.0f} without",
            after <= 1.05 * before,
        ),
        (
            "placebo's 90% interval contains 0",
            ">= 90% of seeds",
            f"{placebo:.0%} of {len(defaults)} fits (clean, confounded with and without "
            "covariates)",
            placebo >= 0.9,
        ),
    ]


def _lift_errors(conf: pd.DataFrame) -> tuple[list[float], list[float], float, float]:
    """Tested channels' abs. errors and SEs; untested channels' summed abs. errors with
    and without the lift tests."""
    tested_err, tested_se, after, before = [], [], 0.0, 0.0
    for _, row in conf[conf.variant == "covariates + lift tests"].iterrows():
        names = [row[f"tested[{i}]"] for i in range(2)]
        tested_err += [abs(row[f"err[{c}]"]) for c in names]
        tested_se += [row[f"lift_se[{c}]"] for c in names]
        without = conf[(conf.variant == "covariates") & (conf.seed == row.seed)].iloc[0]
        others = [c for c in row.index if c.startswith("err[") and c[4:-1] not in names]
        after += sum(abs(row[c]) for c in others)
        before += sum(abs(without[c]) for c in others)
    return tested_err, tested_se, after, before


def report(raw: pd.DataFrame, args: argparse.Namespace, command: str) -> str:
    """The criteria table and per-variant means over seeds, as markdown."""
    table = ["| criterion | target | measured | pass |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {'pass' if d else 'FAIL'} |" for a, b, c, d in criteria(raw)]
    columns = ["wape", "spearman", "coverage", "relative_width", "baseline_error", "seconds"]
    means = raw.groupby(["world", "variant"], sort=False)[columns].mean()
    lines = [
        "| world | variant | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for (world, variant), row in means.iterrows():
        cells = " | ".join("-" if pd.isna(v) else f"{v:.3g}" for v in row)
        lines.append(f"| {world} | {variant} | {cells} |")
    return (
        "# Incrementality model: accuracy against the simulator's truth\n\n"
        f"Produced by `{command}`: {args.users:,} users x 60 days, seeds {list(args.seeds)}, "
        f"{args.chains} chains x {args.draws} draws (+{args.tune} tune), lift tests with a "
        f"{HOLDOUT:.0%} holdout on the two channels the covariate fit flags as most "
        "confounded. Truth: `expected_direct_conversions` (the model's estimand; equal to the "
        "total effect in these worlds, which have no mediation). Raw numbers: "
        "`incrementality.csv`.\n\n"
        + "\n".join(table)
        + "\n\n## Means over seeds\n\n"
        + "\n".join(lines)
        + "\n"
    )


def figure(raw: pd.DataFrame, fits: dict[str, Any], path: Path) -> None:
    """Forest plot of one confounded seed, and coverage against error per variant."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    truth = fits["truth"].sort_values()
    y = np.arange(len(truth))
    shown = ["intent unobserved, population only", "intent unobserved", "covariates + lift tests"]
    for k, label in enumerate(shown):
        t = fits[label].table.loc[truth.index]
        offset = 0.22 * (k - 1)
        left.errorbar(
            t["conversions"],
            y + offset,
            xerr=[
                t["conversions"] - t["conversions_lower"],
                t["conversions_upper"] - t["conversions"],
            ],
            fmt="o",
            ms=4,
            capsize=2,
            label=label,
        )
    left.scatter(truth, y, marker="x", color="black", zorder=3, label="truth")
    left.axvline(0, color="grey", lw=0.5)
    left.set_yticks(y, truth.index)
    left.set_xlabel("incremental conversions (90% interval)")
    left.set_title(
        "confounded world, one seed: intervals widen where intent is unobserved", fontsize=9
    )
    left.legend(fontsize=7, loc="lower right")
    means = raw.groupby(["world", "variant"], sort=False)[["wape", "coverage"]].mean()
    for (world, variant), row in means.iterrows():
        right.scatter(row.wape, row.coverage, s=30)
        right.annotate(
            f"{world}: {variant}",
            (row.wape, row.coverage),
            fontsize=7,
            xytext=(4, 2),
            textcoords="offset points",
        )
    right.axhline(0.9, color="grey", lw=0.5, ls="--")
    right.set_xscale("log")
    right.set_xlabel("WAPE vs truth (log scale)")
    right.set_ylabel("90% interval coverage of the truth")
    right.set_title("means over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("speed", "accuracy"):
        p = sub.add_parser(name)
        p.add_argument("--users", type=int, default=100_000)
        p.add_argument("--draws", type=int, default=1000)
        p.add_argument("--tune", type=int, default=1000)
        p.add_argument("--chains", type=int, default=4)
        p.add_argument("--quick", action="store_true")
    speed_parser, accuracy_parser = sub.choices["speed"], sub.choices["accuracy"]
    speed_parser.add_argument("--days", type=int, default=60)
    speed_parser.add_argument("--repeats", type=int, default=3)
    speed_parser.add_argument("--scenario", default="clean")
    accuracy_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    accuracy_parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.command == "speed":
        return speed(args)
    args.out.mkdir(parents=True, exist_ok=True)
    return accuracy(args)


if __name__ == "__main__":
    sys.exit(main())
