"""Default priors of the Bayesian incrementality model, and merging with user priors.

Every prior is weakly informative and on an interpretable scale (the log of the daily
conversion hazard):

``intercept_sd``
    Normal sd of the intercept around the empirical log of the daily conversion rate
    (1.5: a factor of ~4.5 either way at one sd).
``covariate_sd``
    Normal sd of each standardised covariate's coefficient (1.0).
``dow_sd``
    sd of the zero-sum day-of-week effects (0.3: +-35% on the hazard).
``channel_scale``
    Scale ``s`` of the partially pooled channel effects: ``beta_c ~ Normal(0, tau^2)``
    with a shared ``tau^2 ~ InverseGamma(3/2, 3 s^2 / 2)``, integrated out (a
    multivariate Student-t, 3 degrees of freedom). The shared scale shrinks small effects
    towards zero so that a placebo's interval can reach zero (1.0: one exposure
    multiplies the hazard by up to ~e^2 with reasonable prior mass).
``confounding_scale``
    Scale of ``delta_c``, each channel's confounding bias on the population likelihood
    when within-person evidence is used, pooled like the channel effects (see
    `causality.models.bayes.build`): 0.5 lets a targeted channel look up to ~e^1 = 2.7x
    more effective than it is, as measured on the simulator's ``confounded`` world.
``lift_mismatch``
    Half-normal sd of ``kappa``, the design mismatch of lift tests as a multiple of each
    test's standard error: ``observed ~ Normal(implied, se^2 (1 + kappa^2))`` (0.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from causality.errors import ConfigurationError

DEFAULT_PRIORS: dict[str, float] = {
    "intercept_sd": 1.5,
    "covariate_sd": 1.0,
    "dow_sd": 0.3,
    "channel_scale": 1.0,
    "confounding_scale": 0.5,
    "lift_mismatch": 0.5,
}


def merge_priors(priors: Mapping[str, Any] | None) -> dict[str, float]:
    """The defaults updated with the user's ``priors``; unknown names or bad values raise.

    Examples
    --------
    >>> merge_priors({"channel_scale": 0.5})["channel_scale"]
    0.5
    """
    merged = dict(DEFAULT_PRIORS)
    if priors is None:
        return merged
    if not isinstance(priors, Mapping):
        raise ConfigurationError(
            f"priors must be a mapping such as {{'channel_scale': 0.5}}; got {priors!r}"
        )
    unknown = sorted(set(priors) - set(DEFAULT_PRIORS))
    if unknown:
        raise ConfigurationError(
            f"priors: unknown name(s) {unknown}. Valid names: {sorted(DEFAULT_PRIORS)}"
        )
    for key, value in priors.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigurationError(
                f"priors[{key!r}] must be a positive number (a scale); got {value!r}"
            )
        merged[key] = float(value)
    return merged
