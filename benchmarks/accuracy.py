"""Accuracy of every registered model against the simulator's ground truth.

Usage::

    python benchmarks/accuracy.py            # 50k users x 60 days, 3 seeds, every scenario
    python benchmarks/accuracy.py --quick    # CI: 10k users, 1 seed, 3 scenarios, small settings
    python benchmarks/accuracy.py --models last_click linear --scenarios confounded --seeds 0 1

Every model in ``ca.available_models()`` (or ``--models``) is fitted on every scenario and
seed, and its per-channel credit is scored against ``Simulation.truth``: WAPE, Spearman rank
correlation, credit to the placebo channel, baseline error, interval coverage of the expected
truth, relative interval width and fit time. A model whose fit raises ``CausalityError`` is
recorded as failed for that cell; the run goes on. Writes ``accuracy.csv`` (one row per model,
scenario and seed), ``accuracy.md`` (means over seeds) and ``accuracy.png`` to ``--out`` and
prints the tables. Public API only.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import causality as ca
from causality.errors import CausalityError
from causality.simulate import SCENARIOS

PLACEBO = "Display Retargeting"
#: Models that rebuild each user's whole touch history: they get journeys built with
#: ``lookback=None`` (a lookback would drop the touches they model).
WHOLE_HISTORY = frozenset({"incrementality"})
RESULTS = Path(__file__).resolve().parent / "results"
QUICK_SCENARIOS = ("clean", "confounded", "tracking_loss")

#: Metric columns of the raw table, in display order, with their markdown headers.
METRICS: dict[str, str] = {
    "wape_incremental": "WAPE vs incr.",
    "wape_shapley": "WAPE vs Shapley",
    "share_wape": "share WAPE",
    "spearman": "Spearman",
    "placebo_conversions": "placebo conv.",
    "placebo_share": "placebo share",
    "baseline_error": "baseline err.",
    "coverage_incremental": "coverage incr.",
    "coverage_shapley": "coverage Shapley",
    "baseline_covered": "baseline covered",
    "relative_width": "rel. width",
    "fit_seconds": "fit s",
    "journeys_seconds": "journeys s",
}
PERCENT = {"wape_incremental", "wape_shapley", "share_wape", "placebo_share", "baseline_error"}
PERCENT |= {"coverage_incremental", "coverage_shapley", "baseline_covered"}
RAW_COLUMNS = [
    *("model", "kind", "scenario", "seed", "status", "error"),
    *METRICS,
    *("credited_conversions", "true_incremental_conversions", "simulate_seconds"),
]


@dataclass(frozen=True)
class Settings:
    """One benchmark run: what to simulate and how to fit."""

    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    models: tuple[str, ...] | None = None  # None: every registered model, read at run time
    seeds: tuple[int, ...] = (0, 1, 2)
    n_users: int = 50_000
    n_days: int = 60
    n_bootstrap: int = 100
    ci_level: float = 0.9
    lookback: str = "30D"
    contract_params: bool = False  # use each model's small `contract_params` settings

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            scenarios=QUICK_SCENARIOS,
            seeds=(0,),
            n_users=10_000,
            n_bootstrap=30,
            contract_params=True,
        )


def model_params(name: str, settings: Settings, seed: int) -> dict[str, Any]:
    """Keyword arguments for ``ca.attribute``: shared settings the model accepts, plus
    its own reduced ``contract_params`` when asked for (those win)."""
    cls = ca.registry.get_model(name)
    params: dict[str, Any] = {
        "ci_level": settings.ci_level,
        "seed": seed,
        "n_bootstrap": settings.n_bootstrap,
    }
    if hasattr(cls, "param_schema"):
        # Pass only what the model takes: a sampler-based model may have no n_bootstrap.
        accepted = cls.param_schema().get("properties", {})
        params = {k: v for k, v in params.items() if k in accepted}
    if settings.contract_params:
        params.update(getattr(cls, "contract_params", None) or {})
    return params


def wape(credit: np.ndarray, truth: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |credit - truth| / sum |truth|."""
    denominator = np.abs(truth).sum()
    return float(np.abs(credit - truth).sum() / denominator) if denominator > 0 else np.nan


def share_wape(credit: np.ndarray, truth: np.ndarray) -> float:
    """WAPE of shares: credit rescaled to the true total first, so it measures how credit is
    split among channels, not how much is given (from 0%, perfect, to 200%)."""
    if credit.sum() <= 0 or truth.sum() <= 0:
        return np.nan
    return wape(credit / credit.sum(), truth / truth.sum())


def covered(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> float:
    """Share of channels whose interval [lower, upper] contains the truth."""
    return float(np.mean((lower <= truth) & (truth <= upper)))


def spearman(credit: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    if np.ptp(credit) == 0 or np.ptp(truth) == 0:
        return np.nan
    return float(stats.spearmanr(credit, truth).statistic)


def score(result: ca.AttributionResult, sim: ca.Simulation) -> dict[str, float]:
    """Every accuracy metric of one fitted result against its simulation's truth.

    Channels the model did not credit (absent from its table) count as zero credit with a
    zero-width interval.
    """
    truth = sim.truth
    table = result.table.reindex(truth.index)
    table[["conversions", "conversions_lower", "conversions_upper"]] = table[
        ["conversions", "conversions_lower", "conversions_upper"]
    ].fillna(0.0)
    credit = table["conversions"].to_numpy(float)
    lower = table["conversions_lower"].to_numpy(float)
    upper = table["conversions_upper"].to_numpy(float)
    incremental = truth["incremental_conversions"].to_numpy(float)
    allocation = result.kind == "allocation"
    width = (upper - lower)[credit != 0] / np.abs(credit[credit != 0])
    out = {
        "wape_incremental": wape(credit, incremental),
        "wape_shapley": wape(credit, truth["shapley_conversions"].to_numpy(float)),
        "share_wape": share_wape(credit, incremental),
        "spearman": spearman(credit, incremental),
        "placebo_conversions": float(table["conversions"].get(PLACEBO, np.nan)),
        "placebo_share": float(table["share"].fillna(0.0).get(PLACEBO, np.nan)),
        "coverage_incremental": covered(
            lower, upper, truth["expected_incremental_conversions"].to_numpy(float)
        ),
        "coverage_shapley": covered(
            lower, upper, truth["expected_shapley_conversions"].to_numpy(float)
        ),
        "relative_width": float(width.mean()) if width.size else np.nan,
        "credited_conversions": float(credit.sum()),
        "true_incremental_conversions": float(incremental.sum()),
    }
    out.update(baseline_metrics(result, sim))
    if not allocation:  # Shapley truth is the allocation target only
        out["wape_shapley"] = out["coverage_shapley"] = np.nan
    return out


def baseline_metrics(result: ca.AttributionResult, sim: ca.Simulation) -> dict[str, float]:
    """Baseline error and coverage. Allocation models give every conversion to a channel,
    so they claim a zero baseline: their error is |0 - baseline| / baseline = 100%."""
    true_baseline = float(sim.baseline_conversions)
    if result.kind == "allocation":
        estimate, covers = 0.0, np.nan
    elif result.baseline is None:
        return {"baseline_error": np.nan, "baseline_covered": np.nan}
    else:
        b = result.baseline
        estimate = float(b["conversions"])
        expected = sim.expected_baseline_conversions
        covers = float(b["conversions_lower"] <= expected <= b["conversions_upper"])
    error = abs(estimate - true_baseline) / true_baseline if true_baseline > 0 else np.nan
    return {"baseline_error": error, "baseline_covered": covers}


def fit_cell(
    journeys: ca.Journeys, sim: ca.Simulation, name: str, settings: Settings, seed: int
) -> dict[str, Any]:
    """Fit one model on one simulated data set and score it (or record its failure)."""
    row: dict[str, Any] = {"model": name, "kind": ca.registry.get_model(name).kind}
    params = model_params(name, settings, seed)
    start = time.perf_counter()
    try:
        result = ca.attribute(journeys, name, **params)
    except CausalityError as exc:
        return {**row, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    row["fit_seconds"] = time.perf_counter() - start
    return {**row, "status": "ok", "error": "", "kind": result.kind, **score(result, sim)}


def run(settings: Settings, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The raw table: one row per model, scenario and seed."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    models = settings.models or tuple(ca.available_models())
    rows = []
    for scenario in settings.scenarios:
        for seed in settings.seeds:
            start = time.perf_counter()
            sim = ca.simulate(scenario, n_users=settings.n_users, n_days=settings.n_days, seed=seed)
            simulate_seconds = time.perf_counter() - start
            with warnings.catch_warnings():  # identity conflicts etc. are expected here
                warnings.simplefilter("ignore", ca.errors.DataWarning)
                start = time.perf_counter()
                journeys = ca.Journeys.from_events(sim.events, lookback=settings.lookback)
                journeys_seconds = time.perf_counter() - start
            log(
                f"{scenario} seed {seed}: simulated {simulate_seconds:.1f}s, journeys "
                f"{journeys_seconds:.2f}s"
            )
            whole = None  # journeys without a lookback, built once if a model needs them
            for name in models:
                data = journeys
                if name in WHOLE_HISTORY:
                    if whole is None:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ca.errors.DataWarning)
                            whole = ca.Journeys.from_events(sim.events, lookback=None)
                    data = whole
                row = fit_cell(data, sim, name, settings, seed)
                log(
                    f"  {name}: {row['status']} {row.get('fit_seconds', 0.0):.2f}s "
                    f"{row['error'][:120]}"
                )
                rows.append(
                    {
                        "scenario": scenario,
                        "seed": seed,
                        **row,
                        "journeys_seconds": journeys_seconds,
                        "simulate_seconds": simulate_seconds,
                    }
                )
    return pd.DataFrame(rows).reindex(columns=RAW_COLUMNS)


def aggregate(raw: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per model and scenario, with the number of seeds that fitted."""
    keys = ["model", "kind", "scenario"]
    ok = raw[raw["status"] == "ok"]
    means = ok.groupby(keys, sort=False)[list(METRICS)].mean()
    counts = raw.groupby(keys, sort=False).agg(
        n_seeds=("status", lambda s: int((s == "ok").sum())),
        n_failed=("status", lambda s: int((s != "ok").sum())),
        error=("error", lambda s: next((e for e in s if e), "")),
    )
    return counts.join(means).reset_index()


def _cell(value: float, metric: str) -> str:
    if pd.isna(value):
        return "–"
    if metric in PERCENT:
        return f"{value:.0%}"
    if metric.endswith("seconds"):
        return f"{value:.2f}"
    if metric == "placebo_conversions":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def pivot(summary: pd.DataFrame, metric: str) -> str:
    """One metric as a model x scenario table, with the mean over scenarios."""
    grid = summary.pivot_table(index="model", columns="scenario", values=metric, sort=False)
    grid = grid.reindex(
        index=list(dict.fromkeys(summary["model"])),
        columns=list(dict.fromkeys(summary["scenario"])),
    )
    grid["mean"] = grid.mean(axis=1)
    rows = [[f"`{m}`", *(_cell(v, metric) for v in r)] for m, r in grid.iterrows()]
    return _markdown(["model", *grid.columns], rows)


def full_table(summary: pd.DataFrame) -> str:
    """Every metric, per model and scenario (means over seeds)."""
    header = ["model", "kind", "scenario", "n seeds", *METRICS.values()]
    rows = []
    for _, r in summary.iterrows():
        seeds = f"{r['n_seeds']}" + (f" ({r['n_failed']} failed)" if r["n_failed"] else "")
        if r["n_seeds"] == 0:
            failed = f"failed: {r['error'][:80]}".replace("|", "/")
            rows.append(
                [
                    f"`{r['model']}`",
                    r["kind"],
                    r["scenario"],
                    seeds,
                    failed,
                    *[""] * (len(METRICS) - 1),
                ]
            )
            continue
        rows.append(
            [f"`{r['model']}`", r["kind"], r["scenario"], seeds, *(_cell(r[m], m) for m in METRICS)]
        )
    return _markdown(header, rows)


def tables(summary: pd.DataFrame) -> str:
    return (
        "## WAPE against true incremental conversions (lower is better)\n\n"
        f"{pivot(summary, 'wape_incremental')}\n\n"
        "## Share WAPE: how credit is split, whatever its total (lower is better)\n\n"
        f"{pivot(summary, 'share_wape')}\n\n"
        "## Share of credit given to the placebo (true effect 0)\n\n"
        f"{pivot(summary, 'placebo_share')}\n\n"
        f"## Every metric (means over seeds)\n\n{full_table(summary)}\n"
    )


def preamble(settings: Settings, command: str) -> str:
    """What each metric means and how to read it, and how the numbers were made."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    level = f"{settings.ci_level:.0%}"
    return f"""# Accuracy against simulated ground truth

Every registered model fitted on simulated journeys whose causal truth is known (`ca.simulate`,
truth by counterfactual re-simulation). Per model and scenario, means over seeds (`n seeds`
counts the fits that succeeded; a model that raised `CausalityError` is shown as failed):

- **WAPE vs incr.**: sum over channels of |credit - true incremental conversions| / sum of
  |true incremental conversions|. 0% is perfect. The truth is each channel's total causal
  effect (conversions lost if the channel were switched off), which sums to far fewer than all
  conversions: most purchases would have happened anyway (the baseline).
- **WAPE vs Shapley** (allocation models): the same against the exact Shapley split of the
  conversions the channels jointly cause, the fairest target an allocation model could have.
  Allocation models still split *every* attributed conversion, so both WAPEs stay high. When
  a model over-credits every channel, WAPE is just (credited total - true total) / true total,
  the same for every allocation model on the same data.
- **share WAPE**: WAPE of shares, credit rescaled to the true incremental total: how credit
  is *split* among channels, whatever its total (0% perfect, 200% the worst possible).
- **Spearman**: rank correlation of credit with true incremental conversions over channels
  (1 = ranks the channels right, 0 = no relation). A model can rank well and scale badly.
- **placebo conv. / share**: credit to `{PLACEBO}`, a channel targeted on intent
  with zero true effect. Anything above 0 is credit taken from the baseline or from other channels.
- **baseline err.**: |estimated - true baseline| / true baseline, where the baseline is the
  conversions with every channel removed. Allocation models implicitly claim a zero baseline,
  so theirs is 100% by construction.
- **coverage incr. / Shapley**: share of channels whose nominal {level} interval contains the
  *expected* truth (no conversion noise); calibrated intervals give about {level}.
  **baseline covered**: the same for the baseline interval (incrementality models).
- **rel. width**: mean over channels of (upper - lower) / |estimate|.
- **fit s**: seconds of `ca.attribute` (bootstrap included); **journeys s**: seconds of
  `ca.Journeys.from_events` on that data set (shared by every model).

Produced by `{command}` on {today}
({platform.machine()}, nproc = {os.cpu_count()}, Python {platform.python_version()},
causality {ca.__version__}).
Settings: {settings.n_users:,} users x {settings.n_days} days; seeds {list(settings.seeds)};
n_bootstrap {settings.n_bootstrap}; lookback {settings.lookback}; reduced `contract_params`
{"on" if settings.contract_params else "off"}. Raw per-seed numbers: `accuracy.csv`.
"""


PANELS = (  # metric, title, colour map, colour range
    ("wape_incremental", "WAPE vs incremental (lower is better)", "Reds", (0, None)),
    ("share_wape", "share WAPE vs incremental (lower is better)", "Reds", (0, 2)),
    ("spearman", "Spearman vs incremental (higher is better)", "RdBu", (-1, 1)),
    ("placebo_share", f"share credited to the placebo {PLACEBO}", "Reds", (0, None)),
    ("baseline_error", "baseline error (lower is better)", "Reds", (0, None)),
    ("coverage_incremental", "coverage of expected incremental truth", "Blues", (0, 1)),
)


def plot(summary: pd.DataFrame, path: Path) -> None:
    """Heatmaps (model x scenario) of the headline metrics, one panel each."""
    from matplotlib.figure import Figure  # no pyplot: works under any backend

    models = list(dict.fromkeys(summary["model"]))
    scenarios = list(dict.fromkeys(summary["scenario"]))
    fig = Figure(figsize=(3 + 3 * (1 + 0.6 * len(scenarios)), 1.5 + 2 * (0.8 + 0.4 * len(models))))
    for ax, (metric, title, cmap, (vmin, vmax)) in zip(
        fig.subplots(2, 3).ravel(), PANELS, strict=True
    ):
        grid = summary.pivot_table(index="model", columns="scenario", values=metric)
        grid = grid.reindex(index=models, columns=scenarios).to_numpy(float)
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            dark = not np.isnan(value) and sum(image.to_rgba(value)[:3]) < 1.5
            text = "–" if np.isnan(value) else _cell(value, metric)
            ax.text(
                j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black"
            )
        ax.set_xticks(range(len(scenarios)), scenarios, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(models)), models, fontsize=8)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("Attribution accuracy against simulated ground truth (means over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def write(raw: pd.DataFrame, settings: Settings, out: Path, command: str) -> str:
    """Write accuracy.csv, accuracy.md and accuracy.png to ``out``; return the tables."""
    out.mkdir(parents=True, exist_ok=True)
    summary = aggregate(raw)
    raw.to_csv(out / "accuracy.csv", index=False, float_format="%.6g")
    body = tables(summary)
    (out / "accuracy.md").write_text(preamble(settings, command) + "\n" + body)
    plot(summary, out / "accuracy.png")
    return body


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI size: 10k users, seed 0, 3 scenarios, n_bootstrap 30, "
        "models' contract_params; writes to results/quick by default",
    )
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS))
    parser.add_argument("--models", nargs="+", help="default: every registered model")
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--n-users", type=int)
    parser.add_argument("--n-days", type=int)
    parser.add_argument("--n-bootstrap", type=int)
    parser.add_argument(
        "--contract-params",
        action="store_true",
        help="use models' reduced contract_params (implied by --quick)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    settings = Settings.quick() if args.quick else Settings()
    changes = {
        "scenarios": tuple(args.scenarios) if args.scenarios else None,
        "models": tuple(args.models) if args.models else None,
        "seeds": tuple(args.seeds) if args.seeds else None,
        "n_users": args.n_users,
        "n_days": args.n_days,
        "n_bootstrap": args.n_bootstrap,
        "contract_params": True if args.contract_params else None,
    }
    settings = replace(settings, **{k: v for k, v in changes.items() if v is not None})
    for name in settings.models or ():
        ca.registry.get_model(name)  # an unknown name fails now, listing the valid ones
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    return settings, out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings, out = parse_args(argv)
    start = time.perf_counter()
    raw = run(settings)
    body = write(raw, settings, out, " ".join(["python benchmarks/accuracy.py", *argv]))
    print(body)
    print(
        f"wrote {out}/accuracy.{{md,csv,png}} in {time.perf_counter() - start:.0f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
