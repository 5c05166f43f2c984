"""The causal core: exposures, adstock, hazards and conversions of a block of users.

Exposures never react to the purchase (ads keep running after a user converts), so a
world's exposure paths do not depend on its conversions, and the only sequential
dependence left is mediation, which runs along an acyclic channel graph. Each channel's
whole (users x days) exposure matrix is therefore computed at once, mediators before the
channels they drive, with no Python loop over days or users:

* exposure of ``c`` on day ``t``: ``U_expose(u, t, c) < p``, with ``p = exposure_c
  * reach_uc * (1 + visit_boost_c * recent_visit_ut) * (1 + sum_a mediation_ac
  * (1 - exp(-A_ua(t - 1))))`` (``a`` the mediators of ``c``; p above 1 acts as 1);
* adstock ``A_uct = decay_c * A_uc(t-1) + x_uct``, response ``g_c(A)`` (see scenarios);
* hazard ``h_ut = base_hazard_u * (1 + L_ut)``, ``L`` the summed (optionally synergised and
  capped) channel lifts, clipped to [0, MAX_HAZARD];
* conversion on the first day with ``U_convert(u, t) < h_ut``; one purchase per user, after
  which the user is no longer at risk.

Mediation strengths are non-negative, so removing channels can only remove exposures: a
counterfactual world's exposures are a subset of the factual ones. Truth and lift tests
rely on that to evaluate only the users a change can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causality.simulate.config import Config
from causality.simulate.population import Population
from causality.simulate.rng import keyed_uniform

__all__ = ["MAX_HAZARD", "Outcome", "World"]

#: Ceiling on the daily conversion hazard, so extreme lifts stay probabilities.
MAX_HAZARD = 0.5
#: Saturation parameters below this act as linear (relative difference about k * A / 2).
_LINEAR_BELOW = 1e-6


def adstock(exposed: np.ndarray, decay: float) -> np.ndarray:
    """Geometric adstock ``A_t = decay * A_(t-1) + x_t`` along the days of a (users, days) array.

    A doubling scan (log2(days) whole-array steps) instead of a day loop; each row's result
    depends only on that row, so a user gets identical numbers in every batch of users.
    """
    stock = exposed.astype(np.float32)
    step, factor = 1, np.float32(decay)
    while decay and step < stock.shape[1]:
        stock[:, step:] += factor * stock[:, :-step]
        step, factor = 2 * step, factor * factor
    return stock


def response(exposed: np.ndarray, decay: float, k: float) -> np.ndarray:
    """Saturating response ``g(A)`` of the adstock (g(0) = 0, g(1) = 1; linear when k = 0).

    Float32 throughout: half the memory traffic, and cached factual responses and
    recomputed ones are bit-identical as long as both come from this function.
    """
    stock = adstock(exposed, decay)
    if k < _LINEAR_BELOW:  # also keeps expm1(-k) from underflowing in float32
        return stock
    return np.expm1(np.float32(-k) * stock) / np.float32(np.expm1(-k))


def pressure(exposed: np.ndarray, decay: float) -> np.ndarray:
    """Mediation pressure of yesterday's adstock, ``1 - exp(-A_(t-1))`` (0 on day 0)."""
    out = np.zeros(exposed.shape, dtype=np.float32)
    out[:, 1:] = -np.expm1(-adstock(exposed, decay)[:, :-1])
    return out


@dataclass(frozen=True, eq=False)
class Outcome:
    """Conversions of the evaluated users in one world."""

    day: np.ndarray  # conversion day, -1 for none
    hazard: np.ndarray  # (n, T) daily conversion hazard along this world's exposure path

    @property
    def converted(self) -> np.ndarray:
        """Whether each user converted in the window."""
        return self.day >= 0

    @property
    def probability(self) -> np.ndarray:
        """P(convert in the window) along this world's exposure path: no conversion noise."""
        return 1.0 - np.prod(np.subtract(1.0, self.hazard, dtype=np.float64), axis=1)

    def in_window(self, d0: int, d1: int) -> tuple[np.ndarray, np.ndarray]:
        """Realised conversion and its probability within days [d0, d1)."""
        hit = (self.day >= d0) & (self.day < d1)
        log_s = np.log1p(-self.hazard.astype(np.float64))
        before = np.exp(log_s[:, :d0].sum(axis=1))
        return hit, before * -np.expm1(log_s[:, d0:d1].sum(axis=1))


class World:
    """A block of users with every draw that does not depend on the world precomputed.

    ``factual`` holds the factual exposures (n, T, C). Another world is described, for a
    subset ``sel`` of the users, by ``allowed``: (C,) booleans switching whole channels off,
    or (len(sel), T, C) booleans per user-day. The saturating responses of the factual
    exposures are cached per channel, so a world only recomputes the channels whose
    exposures are not simply "as observed" or "none": mediated channels that lost a
    mediator, and channels suppressed on some days.
    """

    def __init__(self, cfg: Config, users: np.ndarray) -> None:
        self.cfg = cfg
        self.pop = Population.draw(cfg, users)
        n, n_days = len(users), cfg.n_days
        days = np.arange(n_days)[None, :]
        self.u_convert = keyed_uniform(cfg.seed, "convert", users[:, None], days, dtype=np.float32)
        self._u_target: dict[int, np.ndarray] = {}
        self._pressure: dict[int, np.ndarray] = {}  # factual mediation pressure, cached
        x = np.zeros((n, n_days, cfg.n_channels), dtype=bool)
        everyone = np.arange(n)
        for c in cfg.order:  # mediators are final before the channels they drive
            u = keyed_uniform(
                cfg.seed, "expose", users[:, None], days, cfg.channels[c], dtype=np.float32
            )
            if c in cfg.targets:
                self._u_target[c] = u  # re-drawn against new probabilities in other worlds
                x[:, :, c] = self._redraw(c, everyone, {})
            else:
                x[:, :, c] = u < self._base_probability(c, everyone)
            if c in cfg.mediators and x[:, :, c].any():
                self._pressure[c] = pressure(x[:, :, c], cfg.decay[c])
        self.factual = x
        self._response = {
            c: self._respond(x[:, :, c], c) for c in cfg.effect_channels if x[:, :, c].any()
        }

    @property
    def n(self) -> int:
        """Number of users in the block."""
        return len(self.pop.users)

    def _respond(self, exposed: np.ndarray, c: int) -> np.ndarray:
        return response(exposed, self.cfg.decay[c], self.cfg.saturation[c])

    def _base_probability(self, c: int, sel: np.ndarray) -> np.ndarray:
        pop, cfg = self.pop, self.cfg
        p = cfg.exposure[c] * pop.reach[sel, c][:, None]
        if cfg.visit_boost[c]:
            p = p * (1.0 + cfg.visit_boost[c] * pop.recent_visit[sel])
        return p

    def _redraw(
        self,
        c: int,
        sel: np.ndarray,
        fresh: dict[int, np.ndarray],
        active: np.ndarray | None = None,
    ) -> np.ndarray:
        """Exposures of mediated channel c.

        Its mediators are factual (cached pressure) unless in ``fresh`` (recomputed) or
        inactive (none).
        """
        cfg = self.cfg
        boost = np.ones((len(sel), cfg.n_days), dtype=np.float32)
        for a in cfg.parents[c]:  # fixed order: identical inputs give identical bits
            if active is not None and not active[a]:
                continue
            if a in fresh:
                if fresh[a].any():
                    boost += np.float32(cfg.mediation[a, c]) * pressure(fresh[a], cfg.decay[a])
            elif a in self._pressure:
                boost += np.float32(cfg.mediation[a, c]) * self._pressure[a][sel]
        return self._u_target[c][sel] < self._base_probability(c, sel) * boost

    def world(
        self, sel: np.ndarray, allowed: np.ndarray
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Describe a world for users ``sel`` as ``(active, fresh)``.

        ``active``: (C,) channels with any allowed exposure; ``fresh``: the exposures
        (len(sel), T) of the channels that differ from the factual ones other than by being
        switched off (the others are read from the factual caches).
        """
        cfg = self.cfg
        per_day = allowed.ndim == 3
        active = allowed.any(axis=(0, 1)) if per_day else allowed.copy()
        fresh = {}
        if per_day:
            for c in np.flatnonzero(active & ~allowed.all(axis=(0, 1))):
                fresh[c] = self.factual[sel, :, c] & allowed[:, :, c]
        if self.mediation_changed(allowed):
            for c in cfg.targets:
                if active[c]:
                    x = self._redraw(c, sel, fresh, active)
                    fresh[c] = x & allowed[:, :, c] if per_day else x
        return active, fresh

    def mediation_changed(self, allowed: np.ndarray) -> bool:
        """Whether some allowed mediated channel loses a mediator, so must be re-drawn."""
        cfg = self.cfg
        if not cfg.targets:
            return False
        if allowed.ndim == 3:
            return True
        off = sum(1 << c for c in range(cfg.n_channels) if not allowed[c])
        return any(cfg.ancestors[c] & off for c in cfg.targets if allowed[c])

    def hazard(
        self, sel: np.ndarray, active: np.ndarray, fresh: dict[int, np.ndarray]
    ) -> np.ndarray:
        """Daily conversion hazard (len(sel), T) of a world given as in :meth:`world`."""
        cfg = self.cfg
        lift = np.zeros((len(sel), cfg.n_days), dtype=np.float32)
        g: dict[int, np.ndarray] = {}
        for c in cfg.effect_channels:
            # A channel that is off adds nothing, and a user never exposed adds exactly 0.0,
            # so factual and counterfactual arithmetic agree bit for bit where nothing
            # changed (zero-lift channels have exactly zero effect).
            if not active[c]:
                continue
            if c in fresh:
                g[c] = self._respond(fresh[c], c)
            elif c in self._response:
                g[c] = self._response[c][sel]
            else:
                continue
            if cfg.lift[c]:
                lift += np.float32(cfg.lift[c]) * g[c]
        for a, b, strength in cfg.synergy:
            if a in g and b in g:
                lift += np.float32(strength) * g[a] * g[b]
        cap = cfg.params["lift_cap"]
        if cap is not None:
            lift = np.float32(-cap) * np.expm1(lift / np.float32(-cap))
        lift += np.float32(1.0)
        lift *= self.pop.base_hazard[sel, None].astype(np.float32)
        return np.clip(lift, 0.0, MAX_HAZARD, out=lift)

    def outcome(self, sel: np.ndarray, active: np.ndarray, fresh: dict[int, np.ndarray]) -> Outcome:
        """Conversions of users ``sel`` in a world given as in :meth:`world`."""
        h = self.hazard(sel, active, fresh)
        hit = self.u_convert[sel] < h
        return Outcome(np.where(hit.any(axis=1), hit.argmax(axis=1), -1), h)

    def evaluate(self, sel: np.ndarray, allowed: np.ndarray) -> Outcome:
        """Outcome of users ``sel`` in the world where only ``allowed`` exposures happen."""
        return self.outcome(sel, *self.world(sel, allowed))

    def factual_outcome(self) -> Outcome:
        """Outcome of every user of the block in the factual world."""
        return self.evaluate(np.arange(self.n), np.ones(self.cfg.n_channels, dtype=bool))
