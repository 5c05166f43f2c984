"""Ground truth by counterfactual re-simulation with common random numbers.

For each channel ``c`` and each block of users:

* total effect (``incremental_*``): factual minus the world where every exposure of ``c``
  is suppressed and mediated channels are re-drawn (what a holdout on ``c`` measures);
* direct effect (``direct_*``): factual minus the factual exposures with ``c``'s removed and
  every other channel's exposures held as they were;
* Shapley (``shapley_*``): the Shapley decomposition of ``v(S) = outcome with only the
  channels in S active``; all simulated channels are players, so the values sum to total
  minus baseline (efficiency).

Shapley is exact and costs far less than 2**C worlds of every user: removing channels only
removes exposures, so a channel a user never saw is a null player in that user's game, and
the user's game only needs the subsets of the channels they saw. The loop runs over the 2**C
subsets S, each time evaluating only the users who saw every channel of S, vectorised.

``expected_*`` columns replace the conversion draw by its probability (``1 - prod(1 - h)``
along that world's exposure path), so they carry exposure noise but no conversion noise.
"""

from __future__ import annotations

import warnings
from math import factorial

import numpy as np
import pandas as pd

from causality.errors import CausalityWarning
from causality.simulate.world import Outcome, World

__all__ = ["MAX_SHAPLEY_CHANNELS", "chunk_truth", "truth_frame"]

#: Exact Shapley enumerates 2**C subsets; above this many channels the column is NaN.
MAX_SHAPLEY_CHANNELS = 12

_COLUMNS = (
    "incremental_conversions",
    "incremental_value",
    "direct_conversions",
    "direct_value",
    "shapley_conversions",
    "shapley_value",
    "expected_incremental_conversions",
    "expected_direct_conversions",
    "expected_shapley_conversions",
)


def _summaries(out: Outcome, value: np.ndarray) -> np.ndarray:
    """(3, n): realised conversions, realised value, conversion probability."""
    converted = out.converted.astype(np.float64)
    return np.stack([converted, converted * value, out.probability])


def _effects(world: World, factual: Outcome) -> dict[str, np.ndarray]:
    cfg, value = world.cfg, world.pop.value
    n_channels = cfg.n_channels
    total, direct = np.zeros((3, n_channels)), np.zeros((3, n_channels))
    reached = world.factual.any(axis=1)
    observed = _summaries(factual, value)
    for c in range(n_channels):
        # Only users exposed to c can be changed by removing c (exposures only shrink).
        sel = np.flatnonzero(reached[:, c])
        if not sel.size:
            continue
        fact = observed[:, sel]
        allowed = np.ones(n_channels, dtype=bool)
        allowed[c] = False
        held = world.outcome(sel, allowed, {})  # every other channel exactly as observed
        direct[:, c] = (fact - _summaries(held, value[sel])).sum(axis=1)
        if world.mediation_changed(allowed):
            removed = world.evaluate(sel, allowed)
            total[:, c] = (fact - _summaries(removed, value[sel])).sum(axis=1)
        else:
            total[:, c] = direct[:, c]
    return {"total": total, "direct": direct}


def _shapley_weights(n_channels: int) -> np.ndarray:
    """w[s, k] = s! (k - s - 1)! / k!, the weight of a coalition of s among k players."""
    w = np.zeros((n_channels + 1, n_channels + 1))
    for k in range(1, n_channels + 1):
        for s in range(k):
            w[s, k] = factorial(s) * factorial(k - s - 1) / factorial(k)
    return w


def _shapley(world: World, baseline: Outcome) -> np.ndarray:
    cfg, value = world.cfg, world.pop.value
    n_channels = cfg.n_channels
    phi = np.zeros((3, n_channels))
    if n_channels > MAX_SHAPLEY_CHANNELS:
        return phi * np.nan
    bit = np.int64(1) << np.arange(n_channels, dtype=np.int64)
    reached = world.factual.any(axis=1)
    seen = reached @ bit  # bitmask of the channels each user saw
    k = reached.sum(axis=1)
    weights = _shapley_weights(n_channels)
    for subset in range(1 << n_channels):
        sel = np.flatnonzero((seen & subset) == subset)
        if not sel.size:
            continue
        in_s = (subset & bit) > 0
        s = int(in_s.sum())
        if s == 0:
            out = _summaries(baseline, value)
        else:
            out = _summaries(world.evaluate(sel, in_s), value[sel])
        in_p = (seen[sel, None] & bit) > 0
        kk = k[sel]
        # Marginal contributions, expanded: +w(s-1, k) v(S) to each member of S, and
        # -w(s, k) v(S) to each channel the user saw that S lacks.
        coef = np.where(in_s, weights[max(s - 1, 0), kk][:, None], -weights[s, kk][:, None] * in_p)
        phi += out @ coef
    return phi


def chunk_truth(world: World, factual: Outcome) -> dict[str, np.ndarray]:
    """Sums of every truth quantity over one block of users (add them across blocks).

    Examples
    --------
    >>> from causality.simulate.config import Config
    >>> from causality.simulate.params import resolve_params
    >>> cfg = Config.from_params(resolve_params("clean", 500, 20, 0, {}))
    >>> world = World(cfg, np.arange(500))
    >>> t = chunk_truth(world, world.factual_outcome())
    >>> t["direct"].shape
    (3, 10)
    """
    everyone = np.arange(world.n)
    baseline = world.evaluate(everyone, np.zeros(world.cfg.n_channels, dtype=bool))
    value = world.pop.value
    sums = _effects(world, factual)
    sums["shapley"] = _shapley(world, baseline)
    sums["factual"] = _summaries(factual, value).sum(axis=1)
    sums["baseline"] = _summaries(baseline, value).sum(axis=1)
    return sums


def truth_frame(channels: tuple[str, ...], sums: dict[str, np.ndarray]) -> pd.DataFrame:
    """The ``Simulation.truth`` table from summed ``chunk_truth`` results."""
    total, direct, shap = sums["total"], sums["direct"], sums["shapley"]
    if np.isnan(shap).all():
        warnings.warn(
            f"Exact Shapley truth needs at most {MAX_SHAPLEY_CHANNELS} channels; "
            f"got {len(channels)}, so the shapley_* columns are NaN.",
            CausalityWarning,
            stacklevel=3,
        )
    data = {
        "incremental_conversions": np.rint(total[0]).astype(np.int64),
        "incremental_value": total[1],
        "direct_conversions": np.rint(direct[0]).astype(np.int64),
        "direct_value": direct[1],
        "shapley_conversions": shap[0],
        "shapley_value": shap[1],
        "expected_incremental_conversions": total[2],
        "expected_direct_conversions": direct[2],
        "expected_shapley_conversions": shap[2],
    }
    return pd.DataFrame(data, index=pd.Index(list(channels), name="channel"))[list(_COLUMNS)]
