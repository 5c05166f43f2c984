"""Incremental conversions per posterior draw, computed through the daily rates.

For channel ``c`` and draw ``s``, the incremental conversions are the at-risk person-days'
summed rate difference with and without ``c``'s exposures (other channels held as
observed: the *direct* effect). Lifts add as excess relative rates (see
`causality.models.bayes.link`): a row's rate is ``h = base * m(beta)``, ``m(beta) = 1 +
sum_c (exp(beta_c) - 1) g_c``, and removing ``c`` takes its excess off the multiplier::

    incremental_c(s) = sum_rows at_risk * h_s(row) * (exp(beta_c) - 1) g_c(row) / m(beta)

The fitted rate ``h`` uses each channel's observed slope ``beta_c + delta_c`` (``delta``
the confounding bias, zero unless the model estimates it), so ``base = h / m(beta)`` is
the rate of *these* users without any channel's effect (high-intent users keep their
higher base); the counterfactual removes the causal share only. Summing over the
person-days actually at risk weights each day by the observed survival, so this is the
expected number of conversions within the window that ``c`` adds, up to the second-order
term (the counterfactual survival after that day, ~ the window's conversion probability, a
few per cent). The channels' direct effects sum to what all of them add together; the
baseline is every conversion (attributed or not) minus that.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from causality.models.bayes import link
from causality.models.bayes.build import pairs

_CHUNK = 256


@dataclasses.dataclass(frozen=True, eq=False)
class Draws:
    """Posterior draws as flat arrays, shape (n_draws_total, ...)."""

    intercept: np.ndarray
    gamma: np.ndarray  # (S, K)
    dow: np.ndarray  # (S, 7)
    beta: np.ndarray  # (S, C) causal effects: log relative rate at one fresh exposure
    bias: np.ndarray  # (S, C) confounding bias: the population sees beta + bias

    @classmethod
    def from_posterior(cls, posterior, n_covariates: int) -> Draws:
        """Flatten chains and draws of an ArviZ posterior group."""

        def flat(name: str) -> np.ndarray:
            values = np.asarray(posterior[name].values, dtype=np.float64)
            return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

        intercept = flat("intercept")
        gamma = flat("gamma") if n_covariates else np.zeros((len(intercept), 0))
        beta = flat("beta")
        bias = flat("confounding") if "confounding" in posterior else np.zeros_like(beta)
        return cls(intercept, gamma, flat("dow_effect"), beta, bias)

    @property
    def n(self) -> int:
        """Number of draws."""
        return len(self.intercept)

    @property
    def slope(self) -> np.ndarray:
        """What the population comparison sees at one fresh exposure: effect plus bias."""
        return self.beta + self.bias

    def take(self, sl: slice) -> Draws:
        """A slice of the draws."""
        return Draws(self.intercept[sl], self.gamma[sl], self.dow[sl], self.beta[sl], self.bias[sl])


def _multiplier(response: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Rate multiplier per draw and row, (S, n_rows) (see `causality.models.bayes.link`)."""
    return np.maximum(1.0 + np.expm1(beta) @ response.T, link.FLOOR)


def linear_predictor(rows, draws: Draws) -> np.ndarray:
    """``log h`` per draw and row, shape (S, n_rows)."""
    return (
        draws.intercept[:, None]
        + draws.gamma @ rows.covariates.T
        + draws.dow[:, rows.dow]
        + np.log(_multiplier(rows.response, draws.slope))
    )


def incremental(rows, draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: incremental conversions of each channel (S, C) and of all channels (S,).

    Rows are first merged into their (exposure state, covariate cell) pairs with days at
    risk per day of week (the rate factorises, as in the likelihood); a channel's
    conversions are then one matrix product of the pairs' base conversions and responses.
    """
    response, covariates, exposure, _ = pairs(
        rows.response, rows.covariates, rows.dow, rows.at_risk
    )
    per_channel = np.zeros((draws.n, response.shape[1]))
    every = np.zeros(draws.n)
    for start in range(0, draws.n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        part = draws.take(sl)
        log_pair = part.intercept[:, None] + part.gamma @ covariates.T
        rate = np.exp(log_pair) * _multiplier(response, part.slope)
        rate *= np.exp(part.dow) @ exposure.T  # (S, pairs): expected conversions
        causal = _multiplier(response, part.beta)
        base = rate / causal
        per_channel[sl] = np.expm1(part.beta) * (base @ response)
        every[sl] = (base * (causal - 1.0)).sum(axis=1)
    return per_channel, every


def expected_conversions(rows, draws: Draws) -> np.ndarray:
    """Expected conversions per draw and row, shape (S, n_rows)."""
    return np.exp(linear_predictor(rows, draws)) * rows.at_risk[None, :]
