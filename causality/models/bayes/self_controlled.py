"""The self-controlled design's fit, and comparing the two designs' results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from causality.journeys import Journeys
from causality.models.base import result_for
from causality.models.bayes import build, diagnostics, sampling, sccs
from causality.models.bayes.design import user_days
from causality.models.bayes.fitting import (
    Clock,
    channel_effects,
    choose,
    chosen_decays,
    decay_extras,
    label,
    sampler_settings,
    spread_over_decays,
    table_and_baseline,
)
from causality.results import AttributionResult


def fit_self_controlled(
    model: Any, journeys: Journeys, priors: dict[str, float], progress: bool | None = None
) -> AttributionResult:
    """Fit the self-controlled (case series) design; see `causality.models.bayes.sccs`.

    The posterior is the channel prior times the Gaussian approximation of the
    conditional likelihood; the compiled model depends only on the number of channels,
    so it is compiled once per process.
    """
    clock = Clock()
    ud = user_days(journeys, (), risk_start="data", repeat_purchases=model.repeat_purchases)
    profile = choose(model, ud, within_person=True)
    decays = chosen_decays(model, ud, profile)
    evidence = sccs.evidence(sccs.case_days(ud), decays)
    data = {
        "within_mean": evidence.mean,
        "within_precision": np.linalg.inv(evidence.covariance),
    }
    key = sampling.cache_key(data, "self_controlled", tuple(sorted(priors.items())), model.method)
    clock.lap("design")
    idata = sampling.sample(
        data,
        key=key,
        build=lambda: build.build_within_model(data, channels=ud.channels, priors=priors),
        **sampler_settings(model, progress),
    )
    clock.lap("sampling")
    idata = label(idata, ud)
    beta = np.asarray(idata.posterior["beta"].values, dtype=float)
    beta = beta.reshape(-1, beta.shape[-1])
    per_channel, every = sccs.attributable(evidence, beta, seed=model.seed)
    per_channel, every = spread_over_decays(model, profile, per_channel, every)
    table, baseline = table_and_baseline(model, journeys, ud, per_channel, every)
    diag = diagnostics.convergence(idata)
    diagnostics.warn_if_poor(diag, approximate=model.method != "nuts")
    diag.update(
        n_conversions=evidence.n_conversions,
        n_days=int(ud.n_days),
        approximate=model.method != "nuts",
    )
    extras: dict[str, Any] = {
        "estimand": "direct",
        "design": "self_controlled",
        "link": "excess relative rate (conditional Poisson)",
        "channel_effects": channel_effects(ud.channels, beta, decays, model.ci_level),
        "exposure_reaction": sccs.exposure_reaction(ud),
    }
    if profile is not None:
        extras.update(decay_extras(ud.channels, profile, model.decay_grid))
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
