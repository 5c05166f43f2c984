"""Convergence diagnostics and posterior predictive checks (the only ArviZ user).

`convergence` reports the largest r-hat, the smallest bulk and tail effective sample
sizes and the number of divergent transitions; `warn_if_poor` issues a
`causality.errors.ConvergenceWarning` (never an error) when r-hat > 1.01, an ESS < 400 or
any transition diverged. `predictive_checks` compares the observed daily conversion rate
with posterior predictive draws, by path length (touches so far) and by channel (days
with that channel's adstock above zero).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConvergenceWarning

RHAT_MAX = 1.01
ESS_MIN = 400
PARAMETERS = ("intercept", "dow_effect", "beta", "confounding", "gamma", "lift_mismatch")


def convergence(idata: Any) -> dict[str, float]:
    """Max r-hat, min bulk/tail ESS and divergences over the model's parameters."""
    import arviz as az

    posterior = idata.posterior
    names = [n for n in PARAMETERS if n in posterior]
    out: dict[str, float] = {
        "n_draws_total": int(posterior.sizes["chain"] * posterior.sizes["draw"])
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if posterior.sizes["chain"] > 1:
            rhat = az.rhat(posterior, var_names=names)
            out["r_hat_max"] = _extreme(rhat, np.nanmax)
        else:
            out["r_hat_max"] = float("nan")
        out["ess_bulk_min"] = _extreme(az.ess(posterior, var_names=names, method="bulk"), np.nanmin)
        out["ess_tail_min"] = _extreme(az.ess(posterior, var_names=names, method="tail"), np.nanmin)
    stats = getattr(idata, "sample_stats", None)
    diverging = None
    if stats is not None:
        diverging = stats.get("diverging", stats.get("divergences"))
    out["divergences"] = int(np.asarray(diverging).sum()) if diverging is not None else 0
    return out


def _extreme(dataset: Any, how: Any) -> float:
    values = [np.asarray(v.values, dtype=float).ravel() for v in dataset.data_vars.values()]
    values = np.concatenate(values) if values else np.array([np.nan])
    return float(how(values)) if np.isfinite(values).any() else float("nan")


def warn_if_poor(diagnostics: dict[str, float], *, approximate: bool = False) -> None:
    """Warn (never raise) when the sampler's output looks unreliable."""
    if approximate:
        return
    problems = []
    if diagnostics.get("r_hat_max", 1.0) > RHAT_MAX:
        problems.append(f"max r-hat {diagnostics['r_hat_max']:.3f} > {RHAT_MAX}")
    ess = min(diagnostics.get("ess_bulk_min", ESS_MIN), diagnostics.get("ess_tail_min", ESS_MIN))
    if ess < ESS_MIN:
        problems.append(f"min ESS {ess:.0f} < {ESS_MIN}")
    if diagnostics.get("divergences", 0) > 0:
        problems.append(f"{diagnostics['divergences']} divergent transitions")
    if problems:
        warnings.warn(
            "the posterior may be unreliable: "
            + "; ".join(problems)
            + ". Fix: more n_draws/n_tune or n_chains, or sampler={'target_accept': 0.95}; "
            "see result.diagnostics.",
            ConvergenceWarning,
            stacklevel=3,
        )


def predictive_checks(
    cells: Any,
    expected: np.ndarray,
    channels: tuple[str, ...],
    *,
    ci_level: float,
    seed: int | None,
) -> dict[str, pd.DataFrame]:
    """Observed vs posterior predictive daily conversion rate, by path length and channel.

    ``expected`` is (S, n_rows) expected conversions per draw. A sum of Poisson counts is
    Poisson, so each group's replicated conversions are drawn once per draw from its
    summed expectation, not once per row.
    """
    rng = np.random.default_rng(seed)
    lengths = sorted(set(cells.path_length.tolist()))
    by_length = [(int(k), cells.path_length == k) for k in lengths]
    by_channel = [(name, cells.response[:, c] > 0) for c, name in enumerate(channels)]
    return {
        "ppc_path_length": _table(cells, expected, by_length, "path_length", ci_level, rng),
        "ppc_channel": _table(cells, expected, by_channel, "channel", ci_level, rng),
    }


def _table(cells, expected, groups, label, ci_level, rng) -> pd.DataFrame:
    """One row per group with days at risk: observed vs predicted rate and its interval."""
    groups = [(name, mask) for name, mask in groups if cells.at_risk[mask].sum() > 0]
    masks = np.column_stack([mask for _, mask in groups]).astype(np.float64)
    days = cells.at_risk @ masks
    rates = rng.poisson(expected @ masks) / days  # (S, groups)
    tail = (1.0 - ci_level) / 2.0
    lower, median, upper = np.quantile(rates, [tail, 0.5, 1.0 - tail], axis=0)
    observed = (cells.conversions @ masks) / days
    return pd.DataFrame(
        {
            "days_at_risk": days,
            "observed_rate": observed,
            "predicted_rate": median,
            "predicted_lower": lower,
            "predicted_upper": upper,
            "covered": (lower <= observed) & (observed <= upper),
        },
        index=pd.Index([name for name, _ in groups], name=label),
    )
