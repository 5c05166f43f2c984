"""Users: latent intent, the covariates that proxy it, site visits, and purchase values.

Everything is a keyed draw on the user's global index, so a user is the same person in
every world and in every chunk of users.

* ``intent`` z ~ N(0, 1), never observed.
* ``device``: ``tablet`` for 8% of users; otherwise ``desktop`` with probability
  ``expit(device_intent * z - 0.4)``, else ``mobile``.
* ``region``: one of ``North, East, South, West``, the quartile of
  ``(e + region_intent * z) / sqrt(1 + region_intent^2)`` with ``e`` ~ N(0, 1).
* site visits: on each day (including a pre-period of ``max(visit_window, prior_window)``
  days) a user visits with probability ``visit_rate * exp(visit_intent * z - visit_intent^2
  / 2)``. Visits are not logged; they feed retargeting (``visit_boost``).
* ``prior_visits``: the number of visits in the ``prior_window`` days before the start, a
  noisy pre-period proxy of intent (safe to adjust for, unlike in-window visits).
* ``value``: the revenue of the user's purchase, log-normal with mean ``value_mean`` for an
  average user, ``value_sigma`` log-SD, shifted by ``value_intent * z``. Keyed by user only,
  so a purchase moved to another day by a counterfactual keeps its value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtri

from causality.simulate.config import Config
from causality.simulate.rng import keyed_normal, keyed_uniform

__all__ = ["DEVICES", "REGIONS", "Population"]

DEVICES = ("mobile", "desktop", "tablet")
REGIONS = ("North", "East", "South", "West")
_TABLET_SHARE = 0.08


def _lognormal_mean_one(sd: float, z: np.ndarray) -> np.ndarray:
    """exp(sd z - sd^2 / 2): mean 1 over z ~ N(0, 1), so the base rate keeps its meaning."""
    return np.exp(sd * z - 0.5 * sd * sd)


@dataclass(frozen=True, eq=False)
class Population:
    """Latent and observed attributes of a block of users (all arrays have length n)."""

    users: np.ndarray  # global user indices (int64)
    intent: np.ndarray
    base_hazard: np.ndarray  # organic daily conversion hazard
    reach: np.ndarray  # (n, C) targeting multiplier of each channel's exposure probability
    recent_visit: np.ndarray  # (n, T) bool: a site visit in the previous visit_window days
    value: np.ndarray
    device: np.ndarray  # codes into DEVICES
    region: np.ndarray  # codes into REGIONS
    prior_visits: np.ndarray

    @classmethod
    def draw(cls, cfg: Config, users: np.ndarray) -> Population:
        """Draw the users with these global indices (keyed, so any subset is consistent)."""
        p = cfg.params
        seed = cfg.seed
        z = keyed_normal(seed, "intent", users)
        base = np.minimum(p["base_hazard"] * _lognormal_mean_one(p["intent_sd"], z), 1.0)
        reach = np.exp(np.outer(z, cfg.targeting) - 0.5 * cfg.targeting**2)
        recent, prior = _visits(cfg, users, z)
        value = p["value_mean"] * (
            _lognormal_mean_one(p["value_sigma"], keyed_normal(seed, "value", users))
            * _lognormal_mean_one(p["value_intent"], z)
        )
        u = keyed_uniform(seed, "device", users)
        desktop = (u - _TABLET_SHARE) / (1 - _TABLET_SHARE) < expit(p["device_intent"] * z - 0.4)
        device = np.where(u < _TABLET_SHARE, 2, np.where(desktop, 1, 0)).astype(np.int8)
        r = p["region_intent"]
        latent = (keyed_normal(seed, "region", users) + r * z) / np.sqrt(1 + r * r)
        region = np.searchsorted(ndtri([0.25, 0.5, 0.75]), latent).astype(np.int8)
        return cls(users, z, base, reach, recent, value, device, region, prior)


def _visits(cfg: Config, users: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = cfg.params
    window, prior_window, n_days = p["visit_window"], p["prior_window"], cfg.n_days
    pre = max(window, prior_window)
    rate = np.minimum(p["visit_rate"] * _lognormal_mean_one(p["visit_intent"], z), 1.0)
    days = np.arange(-pre, n_days)
    visited = keyed_uniform(cfg.seed, "visit", users[:, None], days[None, :]) < rate[:, None]
    # cum[:, j] = visits on days -pre .. j - pre - 1, so any window is a difference.
    cum = np.zeros((len(users), pre + n_days + 1), dtype=np.int32)
    np.cumsum(visited, axis=1, out=cum[:, 1:])
    today = np.arange(n_days) + pre  # column of day t in `days`
    recent = cum[:, today] - cum[:, today - window] > 0
    prior = (cum[:, pre] - cum[:, pre - prior_window]).astype(np.int64)
    return recent, prior
