"""The hazard design's fit: design, sampling, counterfactuals and result assembly."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit

from causality.journeys import Journeys
from causality.models.base import result_for
from causality.models.bayes import build, counterfactual, diagnostics
from causality.models.bayes import lift as lift_module
from causality.models.bayes.decay import choose_decays
from causality.models.bayes.design import Cells, UserDays, aggregate, user_days
from causality.results import AttributionResult, build_table

#: Draws used for the posterior predictive checks (a thinned subset).
N_PPC_DRAWS = 400


def fit_hazard(model: Any, journeys: Journeys, priors: dict[str, float]) -> AttributionResult:
    """Fit ``model`` (a `BayesianIncrementality`) on ``journeys``."""
    clock = _Clock()
    ud = user_days(journeys, model.covariates, risk_start=model.risk_start)
    n_channels = len(ud.channels)
    if model.decay is None:
        decays, scores = choose_decays(ud, model.decay_grid)
    else:
        decays, scores = np.full(n_channels, float(model.decay)), None
    clock.lap("decays")
    cells = aggregate(ud, decays)
    lift = _lift_data(model.lift_tests, ud, decays, cells) if model.lift_tests is not None else None
    rate = cells.conversions.sum() / max(cells.at_risk.sum(), 1.0)
    intercept_mu = float(logit(np.clip(rate, 1e-9, 0.5)))
    data = build.model_data(cells, lift, intercept_mu)
    options = dict(model.sampler or {})
    key = build.cache_key(
        data,
        n_channels,
        ud.cell_columns,
        tuple(sorted(priors.items())),
        model.method,
    )

    def make() -> Any:
        return build.build_model(
            data, channels=ud.channels, covariate_names=ud.cell_columns, priors=priors
        )

    clock.lap("design")
    idata = build.sample(
        data,
        key=key,
        build=make,
        method=model.method,
        n_draws=model.n_draws,
        n_tune=model.n_tune,
        n_chains=model.n_chains,
        seed=model.seed,
        options=options,
    )
    clock.lap("sampling")
    idata = _label(idata, ud)
    draws = counterfactual.Draws.from_posterior(idata.posterior, len(ud.cell_columns))
    per_channel, every = counterfactual.incremental(cells, draws)
    clock.lap("counterfactual")
    result = _assemble(
        model, journeys, ud, cells, lift, idata, draws, per_channel, every, decays, scores
    )
    clock.lap("diagnostics")
    result.diagnostics["seconds"] = clock.laps
    return result


class _Clock:
    """Seconds per stage of a fit, reported in ``diagnostics["seconds"]``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _label(idata: Any, ud: UserDays) -> Any:
    """Channel and covariate names on the posterior (a cached compiled model keeps old ones)."""
    posterior = idata.posterior
    coords = {"channel": list(ud.channels)}
    if "channel" in posterior.dims:
        posterior = posterior.assign_coords(coords)
    if "covariate" in posterior.dims:
        posterior = posterior.assign_coords(covariate=list(ud.cell_columns))
    drop = [v for v in posterior.data_vars if v.endswith("_log__") or v == "channel_z"]
    idata.posterior = posterior.drop_vars(drop)
    return idata


def _lift_data(
    tests: pd.DataFrame, ud: UserDays, decays: np.ndarray, cells: Cells
) -> build.LiftData:
    """Rows of each test's window where its channel is on, stacked."""
    parts = []
    for j, row in tests.iterrows():
        c = ud.channels.index(row["channel"])
        mask = lift_module.test_day_mask(row, ud.day0, ud.n_days)
        rows = cells if mask.all() else aggregate(ud, decays, day_mask=mask)
        on = rows.response[:, c] > 0
        population = row.get("population")
        scale = 1.0 if population is None or pd.isna(population) else population / ud.n_users
        parts.append((j, c, rows, on, scale))
    return build.LiftData(
        response=np.concatenate([r.response[on] for _, _, r, on, _ in parts]),
        covariates=np.concatenate([r.covariates[on] for _, _, r, on, _ in parts]),
        dow=np.concatenate([r.dow[on] for _, _, r, on, _ in parts]),
        at_risk=np.concatenate([r.at_risk[on] for _, _, r, on, _ in parts]),
        channel=np.concatenate([np.full(on.sum(), c) for _, c, _, on, _ in parts]),
        test=np.concatenate([np.full(on.sum(), j) for j, _, _, on, _ in parts]),
        scale=np.array([s for *_, s in parts]),
        observed=tests["incremental_conversions"].to_numpy(float),
        standard_error=tests["standard_error"].to_numpy(float),
    )


def _interval(samples: np.ndarray, ci_level: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - ci_level) / 2.0
    median = np.median(samples, axis=0)
    bounds = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return median, bounds


def _table_and_baseline(model, journeys, ud, per_channel, every):
    """Channel table and organic baseline from per-draw incremental conversions.

    ``per_channel`` is (n_draws, n_channels); ``every`` is (n_draws,), what all
    channels together add. Value scales conversions by the mean value per conversion.
    """
    vpc = ud.value_per_conversion
    conv, conv_bounds = _interval(per_channel, model.ci_level)
    table = build_table(
        channels=ud.channels,
        conversions=conv,
        conversions_bounds=conv_bounds,
        value=conv * vpc,
        value_bounds=conv_bounds * vpc,
        total_conversions=journeys.total_conversions,
    )
    observed = journeys.total_conversions + journeys.unattributed_conversions
    observed_value = journeys.total_value + journeys.unattributed_value
    base, bounds = _interval(observed - every, model.ci_level)
    base_value, value_bounds = _interval(observed_value - every * vpc, model.ci_level)
    baseline = pd.Series(
        {
            "conversions": base,
            "conversions_lower": bounds[0],
            "conversions_upper": bounds[1],
            "value": base_value,
            "value_lower": value_bounds[0],
            "value_upper": value_bounds[1],
        },
        dtype=float,
    )
    return table, baseline


def _assemble(
    model, journeys, ud, cells, lift, idata, draws, per_channel, every, decays, scores
) -> AttributionResult:
    table, baseline = _table_and_baseline(model, journeys, ud, per_channel, every)
    diag = diagnostics.convergence(idata)
    diagnostics.warn_if_poor(diag, approximate=model.method != "nuts")
    diag.update(
        n_rows=int(cells.n_rows),
        n_users=int(ud.n_users),
        n_days=int(ud.n_days),
        person_days=float(cells.at_risk.sum()),
        approximate=model.method != "nuts",
    )
    extras = _extras(model, ud, cells, lift, idata, draws, decays, scores)
    return result_for(
        model, journeys, table, baseline=baseline, diagnostics=diag, extras=extras, posterior=idata
    )


def _extras(model, ud, cells, lift, idata, draws, decays, scores) -> dict[str, Any]:
    step = max(1, draws.n // N_PPC_DRAWS)
    thin = draws.take(slice(None, None, step))
    cells = aggregate(ud, decays, path=True)
    expected = counterfactual.expected_conversions(cells, thin)
    checks = diagnostics.predictive_checks(
        cells, expected, ci_level=model.ci_level, seed=model.seed
    )
    checks["ppc_channel"] = diagnostics.channel_checks(
        cells, expected, ud.channels, ci_level=model.ci_level, seed=model.seed
    )
    beta = draws.beta
    tail = (1.0 - model.ci_level) / 2.0
    effects = pd.DataFrame(
        {
            "decay": decays,
            "relative_hazard": np.exp(np.median(beta, axis=0)),
            "relative_hazard_lower": np.exp(np.quantile(beta, tail, axis=0)),
            "relative_hazard_upper": np.exp(np.quantile(beta, 1 - tail, axis=0)),
        },
        index=pd.Index(list(ud.channels), name="channel"),
    )
    extras: dict[str, Any] = {
        "estimand": "direct",
        "design": "hazard",
        "link": "logit",
        "channel_effects": effects,
        **checks,
    }
    if scores is not None:
        extras["decay_scores"] = pd.DataFrame(
            scores,
            index=pd.Index(list(ud.channels), name="channel"),
            columns=[f"{d:g}" for d in model.decay_grid],
        )
    if lift is not None and "lift_implied" in idata.posterior:
        implied = np.asarray(idata.posterior["lift_implied"].values)
        implied = implied.reshape(-1, implied.shape[-1])
        median, bounds = _interval(implied, model.ci_level)
        frame = model.lift_tests.copy()
        frame["implied"] = median
        frame["implied_lower"] = bounds[0]
        frame["implied_upper"] = bounds[1]
        extras["lift_tests"] = frame
    return extras


def fit_self_controlled(
    model: Any, journeys: Journeys, priors: dict[str, float]
) -> AttributionResult:
    """Fit the self-controlled (case series) design; see `causality.models.bayes.sccs`."""
    from causality.models.bayes import sccs

    clock = _Clock()
    ud = user_days(journeys, (), risk_start="data")
    n_channels = len(ud.channels)
    if model.decay is None:
        decays, scores = choose_decays(ud, model.decay_grid)
    else:
        decays, scores = np.full(n_channels, float(model.decay)), None
    series = sccs.case_series(ud, decays)
    clock.lap("design")
    idata = build.sample(
        {},
        key=None,
        build=lambda: sccs.build_case_series_model(series, ud.channels, priors),
        method=model.method,
        n_draws=model.n_draws,
        n_tune=model.n_tune,
        n_chains=model.n_chains,
        seed=model.seed,
        options=dict(model.sampler or {}),
    )
    clock.lap("sampling")
    idata = _label(idata, ud)
    beta = np.asarray(idata.posterior["beta"].values, dtype=float)
    beta = beta.reshape(-1, beta.shape[-1])
    per_channel, every = sccs.attributable(series, beta)
    table, baseline = _table_and_baseline(model, journeys, ud, per_channel, every)
    diag = diagnostics.convergence(idata)
    diagnostics.warn_if_poor(diag, approximate=model.method != "nuts")
    diag.update(
        n_rows=len(series.days),
        n_cases=int(series.n_cases),
        n_days=int(ud.n_days),
        approximate=model.method != "nuts",
    )
    tail = (1.0 - model.ci_level) / 2.0
    effects = pd.DataFrame(
        {
            "decay": decays,
            "relative_hazard": np.exp(np.median(beta, axis=0)),
            "relative_hazard_lower": np.exp(np.quantile(beta, tail, axis=0)),
            "relative_hazard_upper": np.exp(np.quantile(beta, 1 - tail, axis=0)),
        },
        index=pd.Index(list(ud.channels), name="channel"),
    )
    extras: dict[str, Any] = {
        "estimand": "direct",
        "design": "self_controlled",
        "link": "log (conditional Poisson)",
        "channel_effects": effects,
        "exposure_reaction": sccs.exposure_reaction(ud),
    }
    if scores is not None:
        extras["decay_scores"] = pd.DataFrame(
            scores,
            index=pd.Index(list(ud.channels), name="channel"),
            columns=[f"{d:g}" for d in model.decay_grid],
        )
    clock.lap("counterfactual")
    diag["seconds"] = clock.laps
    return result_for(
        model, journeys, table, baseline=baseline, diagnostics=diag, extras=extras, posterior=idata
    )


def compare_designs(first: AttributionResult, second: AttributionResult) -> pd.DataFrame:
    """Both designs' incremental conversions side by side, flagging disagreement.

    ``disagree`` is true where the two intervals do not overlap.
    """
    a, b = first.table, second.table.reindex(first.table.index)
    label_a = first.extras.get("design", "first")
    label_b = second.extras.get("design", "second")
    if label_a == label_b:
        label_a, label_b = f"{label_a}_1", f"{label_b}_2"
    out = pd.DataFrame(
        {
            label_a: a["conversions"],
            f"{label_a}_lower": a["conversions_lower"],
            f"{label_a}_upper": a["conversions_upper"],
            label_b: b["conversions"],
            f"{label_b}_lower": b["conversions_lower"],
            f"{label_b}_upper": b["conversions_upper"],
        }
    )
    out["disagree"] = (a["conversions_upper"] < b["conversions_lower"]) | (
        b["conversions_upper"] < a["conversions_lower"]
    )
    return out
