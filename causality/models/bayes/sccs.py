"""The self-controlled design: a within-person (case series) likelihood for converters.

Each converting user's conversion day is compared with their own other days in the data
window, conditional on their having converted once::

    P(conversion on day t* | one conversion) = exp(eta_t*) / sum_t exp(eta_t)
    eta_t = dow_effect[dow_t] + sum_c beta_c g_c(A_ct)

so every time-invariant trait of the user (intent, customer status, device, reach)
cancels without being measured. Days are aggregated per user into unique (exposure
state, day of week) rows. Incremental conversions of ``c`` per draw are the conversions'
attributable fractions, ``sum over conversions of 1 - exp(-beta_c g_c(A_c,t*))`` (the
conversions that would not have happened that day without ``c``, first order: a lost
conversion could have happened later in the window).

Assumption: exposure does not react to the purchase (it fails if, say, retargeting stops
after a purchase). Touches after each user's conversion are therefore used; the
`exposure_reaction` check compares each channel's daily exposure rate after versus before
conversions, reported in ``extras["exposure_reaction"]``. Unattributed converters (no
touch before converting) are not in the case series.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from causality.models.bayes.design import LEVEL_EDGES, N_LEVELS, UserDays, response


@dataclasses.dataclass(frozen=True, eq=False)
class CaseSeries:
    """Per-converter rows of (exposure state, day of week) with day counts."""

    response: np.ndarray  # (n_rows, C)
    dow: np.ndarray
    days: np.ndarray  # days in the row
    case: np.ndarray  # per row: which converter (0..n_cases-1)
    event_row: np.ndarray  # per converter: the row of their conversion day
    n_cases: int


def case_series(ud: UserDays, decays: np.ndarray) -> CaseSeries:
    """Aggregate converters' whole-window days into unique rows per converter."""
    cases = np.flatnonzero(ud.converted)
    case_of = np.full(ud.n_users, -1)
    case_of[cases] = np.arange(len(cases))
    n_days = ud.n_days
    user = np.repeat(cases, n_days)
    day = np.tile(np.arange(n_days), len(cases))
    sel = ud.converted[ud.touch_user]
    flat = case_of[ud.touch_user[sel]] * n_days + ud.touch_day[sel]
    codes = ud.touch_code[sel]
    n_channels = len(ud.channels)
    levels = np.empty((len(user), n_channels), dtype=np.int64)
    value = np.zeros((n_channels, N_LEVELS))
    for c in range(n_channels):
        stock = np.bincount(flat[codes == c], minlength=len(cases) * n_days).astype(np.float32)
        stock = stock.reshape(len(cases), n_days)
        for t in range(1, n_days) if decays[c] > 0 else ():
            stock[:, t] += np.float32(decays[c]) * stock[:, t - 1]
        stock = stock.ravel()
        levels[:, c] = np.digitize(stock, LEVEL_EDGES)
        count = np.bincount(levels[:, c], minlength=N_LEVELS)
        total = np.bincount(levels[:, c], weights=response(stock), minlength=N_LEVELS)
        value[c] = np.divide(total, count, out=np.zeros(N_LEVELS), where=count > 0)
    state = np.zeros(len(user), dtype=np.int64)
    for c in range(n_channels):
        _, state = np.unique(state * N_LEVELS + levels[:, c], return_inverse=True)
    key = (case_of[user] * (int(state.max()) + 1) + state) * 7 + ud.dow[day]
    uniq, inverse, days = np.unique(key, return_inverse=True, return_counts=True)
    first = np.empty(len(uniq), dtype=np.int64)
    first[inverse] = np.arange(len(key))
    event = inverse[np.arange(len(cases)) * n_days + ud.end[cases]]
    return CaseSeries(
        response=value[np.arange(n_channels)[None, :], levels[first]],
        dow=ud.dow[day[first]].astype(np.int64),
        days=days.astype(np.float64),
        case=case_of[user[first]],
        event_row=event,
        n_cases=len(cases),
    )


def build_case_series_model(series: CaseSeries, channels, priors) -> object:
    """The conditional (within-person) likelihood in PyMC."""
    import pymc as pm
    import pytensor.tensor as pt

    coords = {"channel": list(channels), "dow": list(range(7))}
    with pm.Model(coords=coords) as model:
        dow = pm.ZeroSumNormal("dow_effect", sigma=priors["dow_sd"], dims="dow")
        tau = pm.HalfNormal("channel_scale", sigma=priors["channel_scale"])
        z = pm.Normal("channel_z", 0.0, 1.0, dims="channel")
        beta = pm.Deterministic("beta", tau * z, dims="channel")
        eta = dow[series.dow] + pt.dot(series.response, beta)
        weights = series.days * pt.exp(eta)
        denominator = pt.zeros(series.n_cases)
        denominator = pt.inc_subtensor(denominator[series.case], weights)
        loglik = pt.sum(eta[series.event_row]) - pt.sum(pt.log(denominator))
        pm.Potential("case_series_loglik", loglik)
    return model


def attributable(series: CaseSeries, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: each channel's and all channels' attributable conversions, (S, C), (S,)."""
    g = series.response[series.event_row]  # (n_cases, C)
    per_channel = np.stack(
        [(1.0 - np.exp(-np.outer(beta[:, c], g[:, c]))).sum(axis=1) for c in range(g.shape[1])],
        axis=1,
    )
    every = (1.0 - np.exp(-(beta @ g.T))).sum(axis=1)
    return per_channel, every


def exposure_reaction(ud: UserDays) -> pd.DataFrame:
    """Daily touch rate of each channel among converters before vs after their conversion."""
    cases = ud.converted[ud.touch_user]
    user, day, code = ud.touch_user[cases], ud.touch_day[cases], ud.touch_code[cases]
    after = day > ud.end[user]
    days_before = float((ud.end[ud.converted] + 1).sum())
    days_after = float((ud.n_days - 1 - ud.end[ud.converted]).sum())
    n = len(ud.channels)
    before_rate = np.bincount(code[~after], minlength=n) / max(days_before, 1.0)
    after_rate = np.bincount(code[after], minlength=n) / max(days_after, 1.0)
    return pd.DataFrame(
        {
            "rate_before": before_rate,
            "rate_after": after_rate,
            "ratio": np.divide(
                after_rate, before_rate, out=np.full(n, np.nan), where=before_rate > 0
            ),
        },
        index=pd.Index(list(ud.channels), name="channel"),
    )
