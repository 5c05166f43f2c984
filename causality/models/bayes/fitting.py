"""The hazard design's fit: design, sampling, counterfactuals and result assembly."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import DataWarning
from causality.journeys import Journeys
from causality.models.base import result_for
from causality.models.bayes import build, counterfactual, diagnostics, sampling, sccs
from causality.models.bayes import lift as lift_module
from causality.models.bayes.cells import Cells, aggregate
from causality.models.bayes.decay import (
    DecayProfile,
    choose_decays,
    choose_decays_within,
    mix_decays,
)
from causality.models.bayes.design import UserDays, user_days, user_frame
from causality.results import AttributionResult, build_table

#: Draws used for the posterior predictive checks (a thinned subset).
N_PPC_DRAWS = 400
#: A channel's confounding bias is flagged when its posterior puts less than this on
#: either side of zero (two-sided 95%).
FLAG_TAIL = 0.025


def fit_hazard(
    model: Any, journeys: Journeys, priors: dict[str, float], progress: bool | None = None
) -> AttributionResult:
    """Fit ``model`` (a `BayesianIncrementality`) on ``journeys``."""
    clock = Clock()
    ud = user_days(
        journeys,
        model.covariates,
        risk_start=model.risk_start,
        repeat_purchases=model.repeat_purchases,
    )
    within_person = model.unmeasured_confounding == "within_person"
    profile = choose(model, ud, within_person=within_person)
    decays = chosen_decays(model, ud, profile)
    evidence = sccs.evidence(sccs.case_days(ud), decays) if within_person else None
    clock.lap("decays")
    by_path = aggregate(ud, decays)  # split by path length for the predictive checks
    cells = by_path.collapse()
    lift = None
    if model.lift_tests is not None:
        lift = _lift_data(model.lift_tests, journeys, ud, decays, cells)
    rate = cells.conversions.sum() / max(cells.at_risk.sum(), 1.0)
    intercept_mu = float(np.log(max(rate, 1e-9)))
    data = build.model_data(cells, lift, intercept_mu, evidence)
    key = sampling.cache_key(data, tuple(sorted(priors.items())), model.method)

    def make() -> Any:
        return build.build_model(
            data, channels=ud.channels, covariate_names=ud.cell_columns, priors=priors
        )

    clock.lap("design")
    idata = sampling.sample(data, key=key, build=make, **sampler_settings(model, progress))
    clock.lap("sampling")
    idata = label(idata, ud)
    draws = counterfactual.Draws.from_posterior(idata.posterior, len(ud.cell_columns))
    per_channel, every = counterfactual.incremental(cells, draws)
    per_channel, every = spread_over_decays(model, profile, per_channel, every)
    clock.lap("counterfactual")
    table, baseline = table_and_baseline(model, journeys, ud, per_channel, every)
    diag = diagnostics.convergence(idata)
    diagnostics.warn_if_poor(diag, approximate=model.method != "nuts")
    diag.update(
        n_rows=int(cells.n_rows),
        n_users=int(ud.n_users),
        n_days=int(ud.n_days),
        person_days=float(cells.at_risk.sum()),
        approximate=model.method != "nuts",
    )
    extras = _extras(model, ud, by_path, lift, idata, draws, decays, profile)
    if evidence is not None:
        extras["confounding"] = confounding_table(ud.channels, draws, evidence)
        diag["n_within_person_conversions"] = evidence.n_conversions
        _warn_if_confounded(extras["confounding"])
    clock.lap("diagnostics")
    diag["seconds"] = clock.laps
    return result_for(
        model, journeys, table, baseline=baseline, diagnostics=diag, extras=extras, posterior=idata
    )


def choose(model: Any, ud: UserDays, *, within_person: bool) -> DecayProfile | None:
    """Each channel's decay profile over the model's grid; None when one decay is fixed."""
    if model.decay is not None:
        return None
    if within_person:
        return choose_decays_within(ud, model.decay_grid)
    return choose_decays(ud, model.decay_grid)


def chosen_decays(model: Any, ud: UserDays, profile: DecayProfile | None) -> np.ndarray:
    """The decays the model is fitted at: the profile's choice or the fixed one."""
    if profile is None:
        return np.full(len(ud.channels), float(model.decay))
    return profile.chosen


def spread_over_decays(
    model: Any, profile: DecayProfile | None, per_channel: np.ndarray, every: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-draw incremental conversions spread over the decay candidates (`mix_decays`).

    What all channels add moves by the channels' summed shift.
    """
    if profile is None:
        return per_channel, every
    mixed = mix_decays(per_channel, profile, seed=model.seed)
    return mixed, every + (mixed - per_channel).sum(axis=1)


def sampler_settings(model: Any, progress: bool | None) -> dict[str, Any]:
    """Keyword arguments of `sampling.sample` shared by both designs."""
    return {
        "method": model.method,
        "n_draws": model.n_draws,
        "n_tune": model.n_tune,
        "n_chains": model.n_chains,
        "seed": model.seed,
        "options": dict(model.sampler or {}),
        "progress": progress,
    }


class Clock:
    """Seconds per stage of a fit, reported in ``diagnostics["seconds"]``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Record the seconds since the previous lap under ``name``."""
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def label(idata: Any, ud: UserDays) -> Any:
    """Channel and covariate names on the posterior (a cached compiled model keeps old ones)."""
    posterior = idata.posterior
    if "channel" in posterior.dims:
        posterior = posterior.assign_coords(channel=list(ud.channels))
    if "covariate" in posterior.dims:
        posterior = posterior.assign_coords(covariate=list(ud.cell_columns))
    drop = [v for v in posterior.data_vars if v.endswith("_log__") or v.endswith("_z")]
    idata.posterior = posterior.drop_vars(drop)
    return idata


def _lift_data(
    tests: pd.DataFrame, journeys: Journeys, ud: UserDays, decays: np.ndarray, cells: Cells
) -> build.LiftData:
    """Rows of each test's window and population where its channel is on, stacked."""
    attributes = None
    parts = []
    for j, row in tests.iterrows():
        c = ud.channels.index(row["channel"])
        mask = lift_module.test_day_mask(row, ud.day0, ud.n_days)
        users = None
        if isinstance(row.get("population"), str):
            attributes = user_frame(journeys) if attributes is None else attributes
            users = lift_module.population_users(row["population"], attributes)
        whole = mask.all() and users is None
        rows = cells if whole else aggregate(ud, decays, day_mask=mask, users=users).collapse()
        on = rows.response[:, c] > 0
        parts.append((j, c, rows, on))
    return build.LiftData(
        response=np.concatenate([r.response[on] for _, _, r, on in parts]),
        covariates=np.concatenate([r.covariates[on] for _, _, r, on in parts]),
        dow=np.concatenate([r.dow[on] for _, _, r, on in parts]),
        at_risk=np.concatenate([r.at_risk[on] for _, _, r, on in parts]),
        channel=np.concatenate([np.full(on.sum(), c) for _, c, _, on in parts]),
        test=np.concatenate([np.full(on.sum(), j) for j, _, _, on in parts]),
        observed=tests["incremental_conversions"].to_numpy(float),
        standard_error=tests["standard_error"].to_numpy(float),
    )


def interval(samples: np.ndarray, ci_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior median and equal-tailed ``ci_level`` bounds along the first axis."""
    tail = (1.0 - ci_level) / 2.0
    median = np.median(samples, axis=0)
    bounds = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return median, bounds


def table_and_baseline(model, journeys, ud, per_channel, every):
    """Channel table and organic baseline from per-draw incremental conversions.

    ``per_channel`` is (n_draws, n_channels); ``every`` is (n_draws,), what all
    channels together add. Value scales conversions by the mean value per conversion.
    """
    vpc = ud.value_per_conversion
    conv, conv_bounds = interval(per_channel, model.ci_level)
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
    base, bounds = interval(observed - every, model.ci_level)
    base_value, value_bounds = interval(observed_value - every * vpc, model.ci_level)
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


def channel_effects(channels, beta: np.ndarray, decays: np.ndarray, ci_level: float):
    """Relative daily hazard at one fresh exposure, ``exp(beta)``, with its interval."""
    median, bounds = interval(beta, ci_level)
    return pd.DataFrame(
        {
            "decay": decays,
            "relative_hazard": np.exp(median),
            "relative_hazard_lower": np.exp(bounds[0]),
            "relative_hazard_upper": np.exp(bounds[1]),
        },
        index=pd.Index(list(channels), name="channel"),
    )


def decay_extras(channels, profile: DecayProfile, grid) -> dict[str, pd.DataFrame]:
    """Every candidate decay's profile log likelihood and, where used, its weight.

    One row per channel, one column per candidate.
    """

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            values,
            index=pd.Index(list(channels), name="channel"),
            columns=[f"{d:g}" for d in grid],
        )

    out = {"decay_scores": frame(profile.scores)}
    if profile.attributable is not None:
        out["decay_weights"] = frame(profile.weights())
    return out


def _extras(model, ud, cells, lift, idata, draws, decays, profile) -> dict[str, Any]:
    step = max(1, draws.n // N_PPC_DRAWS)
    thin = draws.take(slice(None, None, step))
    expected = counterfactual.expected_conversions(cells, thin)
    checks = diagnostics.predictive_checks(
        cells, expected, ud.channels, ci_level=model.ci_level, seed=model.seed
    )
    extras: dict[str, Any] = {
        "estimand": "direct",
        "design": "hazard",
        "link": "excess relative rate",
        "channel_effects": channel_effects(ud.channels, draws.beta, decays, model.ci_level),
        **checks,
    }
    if profile is not None:
        extras.update(decay_extras(ud.channels, profile, model.decay_grid))
    if lift is not None and "lift_implied" in idata.posterior:
        implied = np.asarray(idata.posterior["lift_implied"].values)
        median, bounds = interval(implied.reshape(-1, implied.shape[-1]), model.ci_level)
        frame = model.lift_tests.copy()
        frame["implied"] = median
        frame["implied_lower"] = bounds[0]
        frame["implied_upper"] = bounds[1]
        extras["lift_tests"] = frame
    return extras


def confounding_table(channels, draws, evidence: sccs.Evidence) -> pd.DataFrame:
    """Population vs within-person effect of each channel, and the bias between them.

    Effects are log relative hazards per unit of response. ``bias`` is the posterior of
    ``delta_c``; ``flagged`` where it is away from zero (two-sided 95%).
    """
    bias = draws.slope - draws.beta
    above = (bias > 0).mean(axis=0)
    lower, median, upper = np.quantile(bias, [FLAG_TAIL, 0.5, 1.0 - FLAG_TAIL], axis=0)
    return pd.DataFrame(
        {
            "population_effect": np.median(draws.slope, axis=0),
            "within_person_effect": evidence.mean,
            "within_person_se": evidence.standard_error,
            "effect": np.median(draws.beta, axis=0),
            "bias": median,
            "bias_lower": lower,
            "bias_upper": upper,
            "flagged": (above > 1.0 - FLAG_TAIL) | (above < FLAG_TAIL),
        },
        index=pd.Index(list(channels), name="channel"),
    )


def _warn_if_confounded(table: pd.DataFrame) -> None:
    flagged = table[table["flagged"]]
    if flagged.empty:
        return
    listed = ", ".join(
        f"{name} (x{np.exp(row.bias):.2f})" for name, row in flagged.head(5).iterrows()
    )
    warnings.warn(
        f"the population and within-person designs disagree for {len(flagged)} channel(s): "
        f"{listed} (multiplier of the daily hazard on exposed days not explained by the "
        "channel). Their exposure likely follows unobserved purchase intent; the estimates "
        "lean on the within-person evidence, whose intervals are wider. Fix: add covariates "
        "that proxy intent, or lift tests of those channels; see result.extras['confounding'].",
        DataWarning,
        stacklevel=4,
    )
