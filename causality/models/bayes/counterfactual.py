"""Incremental conversions per posterior draw, computed through the daily rates.

For channel ``c`` and draw ``s``, the incremental conversions are the at-risk person-days'
summed rate difference with and without ``c``'s exposures (other channels held as
observed: the *direct* effect). With the log link, removing ``c``'s causal part multiplies
a row's rate by ``exp(-beta_c g_c)``::

    incremental_c(s) = sum_rows at_risk * h_s(row) * (1 - exp(-beta_c g_c(row)))

The fitted rate uses each channel's observed slope ``beta_c + delta_c`` (``delta`` the
confounding bias, zero unless the model estimates it); the counterfactual removes the
causal part ``beta_c g_c`` only. Summing over the person-days actually at risk weights each
day by the observed survival, so this is the expected number of conversions within the
window that ``c`` adds, up to the second-order term (the counterfactual survival after
that day, ~ the window's conversion probability, a few per cent). The baseline is every
conversion (attributed or not) minus the conversions all channels together add.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from causality.models.bayes.build import pairs

_CHUNK = 256


@dataclasses.dataclass(frozen=True, eq=False)
class Draws:
    """Posterior draws as flat arrays, shape (n_draws_total, ...)."""

    intercept: np.ndarray
    gamma: np.ndarray  # (S, K)
    dow: np.ndarray  # (S, 7)
    beta: np.ndarray  # (S, C) causal effects
    slope: np.ndarray  # (S, C) observed slopes: beta plus the confounding bias

    @classmethod
    def from_posterior(cls, posterior, n_covariates: int) -> Draws:
        """Flatten chains and draws of an ArviZ posterior group."""

        def flat(name: str) -> np.ndarray:
            values = np.asarray(posterior[name].values, dtype=np.float64)
            return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

        intercept = flat("intercept")
        gamma = flat("gamma") if n_covariates else np.zeros((len(intercept), 0))
        beta = flat("beta")
        slope = beta + flat("confounding") if "confounding" in posterior else beta
        return cls(intercept, gamma, flat("dow_effect"), beta, slope)

    @property
    def n(self) -> int:
        """Number of draws."""
        return len(self.intercept)

    def take(self, sl: slice) -> Draws:
        """A slice of the draws."""
        return Draws(
            self.intercept[sl], self.gamma[sl], self.dow[sl], self.beta[sl], self.slope[sl]
        )


def linear_predictor(rows, draws: Draws) -> np.ndarray:
    """``log h`` per draw and row, shape (S, n_rows)."""
    return (
        draws.intercept[:, None]
        + draws.gamma @ rows.covariates.T
        + draws.dow[:, rows.dow]
        + draws.slope @ rows.response.T
    )


def incremental(rows, draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: incremental conversions of each channel (S, C) and of all channels (S,).

    Rows are first merged into their (exposure state, covariate cell) pairs with days at
    risk per day of week (the log link factorises, as in the likelihood). A channel's
    response takes one value per adstock level, so pairs sharing a (channel, level) share
    the factor ``1 - exp(-beta_c g)``: every channel's sum is one matrix product.
    """
    response, covariates, exposure, _ = pairs(
        rows.response, rows.covariates, rows.dow, rows.at_risk
    )
    n_channels = response.shape[1]
    per_channel = np.zeros((draws.n, n_channels))
    every = np.zeros(draws.n)
    at_level, columns, values = _levels(response)
    to_channel = (columns[:, None] == np.arange(n_channels)[None, :]).astype(np.float64)
    anything = np.flatnonzero((response > 0).any(axis=1))
    for start in range(0, draws.n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        part = draws.take(sl)
        # Expected conversions per pair: exp(pair part) x sum over days of exp(dow) days.
        log_pair = part.intercept[:, None] + part.slope @ response.T + part.gamma @ covariates.T
        expected = np.exp(log_pair) * (np.exp(part.dow) @ exposure.T)
        if len(values):
            lost = -np.expm1(-part.beta[:, columns] * values[None, :])  # (S, levels)
            per_channel[sl] = ((expected @ at_level) * lost) @ to_channel
        if len(anything):
            lost = -np.expm1(-(part.beta @ response[anything].T))
            every[sl] = (expected[:, anything] * lost).sum(axis=1)
    return per_channel, every


def _levels(response: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indicator of each pair at each (channel, level), (n_pairs, L).

    Also returns each column's channel and response value.
    """
    indicators, columns, values = [], [], []
    for c in range(response.shape[1]):
        levels = np.unique(response[response[:, c] > 0, c])
        for value in levels:
            indicators.append(response[:, c] == value)
            columns.append(c)
            values.append(value)
    if not indicators:
        return np.zeros((len(response), 0)), np.zeros(0, dtype=int), np.zeros(0)
    return np.column_stack(indicators).astype(np.float64), np.asarray(columns), np.asarray(values)


def expected_conversions(rows, draws: Draws) -> np.ndarray:
    """Expected conversions per draw and row, shape (S, n_rows)."""
    return np.exp(linear_predictor(rows, draws)) * rows.at_risk[None, :]
