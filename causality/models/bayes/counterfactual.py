"""Incremental conversions per posterior draw, computed through the hazards.

For channel ``c`` and draw ``s``, the incremental conversions are the at-risk person-days'
summed hazard difference with and without ``c``'s exposures (other channels held as
observed: the *direct* effect)::

    incremental_c(s) = sum_rows at_risk * (h_s(row) - h_s(row with c's response set to 0))

Summing over the person-days actually at risk weights each day by the observed survival,
so this is the expected number of conversions within the window that ``c`` adds, up to the
second-order term (the counterfactual survival after that day, ~ the window's conversion
probability, a few per cent). The baseline is every conversion (attributed or not) minus
the conversions all channels together add.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import expit

_CHUNK = 256


@dataclasses.dataclass(frozen=True, eq=False)
class Draws:
    """Posterior draws as flat arrays, shape (n_draws_total, ...)."""

    intercept: np.ndarray
    gamma: np.ndarray  # (S, K)
    dow: np.ndarray  # (S, 7)
    beta: np.ndarray  # (S, C)

    @classmethod
    def from_posterior(cls, posterior, n_covariates: int) -> Draws:
        """Flatten chains and draws of an ArviZ posterior group."""

        def flat(name: str) -> np.ndarray:
            values = np.asarray(posterior[name].values, dtype=np.float64)
            return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

        intercept = flat("intercept")
        gamma = flat("gamma") if n_covariates else np.zeros((len(intercept), 0))
        return cls(intercept, gamma, flat("dow_effect"), flat("beta"))

    @property
    def n(self) -> int:
        """Number of draws."""
        return len(self.intercept)

    def take(self, sl: slice) -> Draws:
        """A slice of the draws."""
        return Draws(self.intercept[sl], self.gamma[sl], self.dow[sl], self.beta[sl])


def linear_predictor(rows, draws: Draws) -> np.ndarray:
    """``logit h`` per draw and row, shape (S, n_rows)."""
    return (
        draws.intercept[:, None]
        + draws.gamma @ rows.covariates.T
        + draws.dow[:, rows.dow]
        + draws.beta @ rows.response.T
    )


def incremental(rows, draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: incremental conversions of each channel (S, C) and of all channels (S,)."""
    n_channels = rows.response.shape[1]
    per_channel = np.zeros((draws.n, n_channels))
    every = np.zeros(draws.n)
    exposed = rows.response > 0
    anything = exposed.any(axis=1)
    for start in range(0, draws.n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        part = draws.take(sl)
        eta = linear_predictor(rows, part)
        hazard = expit(eta)
        for c in range(n_channels):
            cols = exposed[:, c]
            if not cols.any():
                continue
            cf = expit(eta[:, cols] - part.beta[:, c : c + 1] * rows.response[cols, c])
            per_channel[sl, c] = (hazard[:, cols] - cf) @ rows.at_risk[cols]
        if anything.any():
            shift = part.beta @ rows.response[anything].T
            cf = expit(eta[:, anything] - shift)
            every[sl] = (hazard[:, anything] - cf) @ rows.at_risk[anything]
    return per_channel, every


def expected_conversions(rows, draws: Draws) -> np.ndarray:
    """Expected conversions per draw and row, shape (S, n_rows)."""
    return expit(linear_predictor(rows, draws)) * rows.at_risk[None, :]
