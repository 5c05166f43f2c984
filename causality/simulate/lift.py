"""Randomised holdout experiments run inside a simulated world.

A keyed random ``holdout`` share of users has every exposure of the channel suppressed on
the test days (mediated channels re-drawn, as a real holdout would change them); everyone
else lives in the factual world. The estimate is the difference in conversion rate within
the test days, scaled to the whole population; its truth is the same difference had every
user been treated versus held out, computed for every user with common random numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.simulate.config import Config
from causality.simulate.rng import keyed_uniform
from causality.simulate.world import World

__all__ = ["LIFT_TEST_COLUMNS", "LiftTest", "lift_tests_frame", "run_lift_test"]

#: Columns of the frame the Bayesian incrementality model takes as ``lift_tests=``.
LIFT_TEST_COLUMNS = (
    "channel",
    "incremental_conversions",
    "standard_error",
    "start",
    "end",
    "population",
)
_TRUTH_COLUMNS = ("true_incremental_conversions", "expected_incremental_conversions")


@dataclass(frozen=True)
class LiftTest:
    """Result of :meth:`Simulation.lift_test`; also readable like a dict (``test["channel"]``).

    ``incremental_conversions`` and ``standard_error`` are totals over the whole simulated
    population (``population`` users) and the test days [``start``, ``end``).
    ``true_incremental_conversions`` is the realised effect of that design (every user
    treated minus every user held out, common random numbers); ``expected_incremental_
    conversions`` the same with conversion draws replaced by their probabilities.
    """

    channel: str
    incremental_conversions: float
    standard_error: float
    start: pd.Timestamp
    end: pd.Timestamp
    population: int
    holdout: float
    true_incremental_conversions: int
    expected_incremental_conversions: float
    n_treated: int
    n_holdout: int
    treated_conversions: int
    holdout_conversions: int
    seed: int

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict."""
        return asdict(self)

    def to_frame(self, *, include_truth: bool = False) -> pd.DataFrame:
        """One row with the ``lift_tests=`` columns (plus the true values if asked).

        Examples
        --------
        >>> from causality.simulate import simulate
        >>> sim = simulate("clean", n_users=2_000, n_days=20)
        >>> list(sim.lift_test("Email").to_frame().columns)
        ['channel', 'incremental_conversions', 'standard_error', 'start', 'end', 'population']
        """
        return lift_tests_frame([self], include_truth=include_truth)


def lift_tests_frame(tests: list[LiftTest], *, include_truth: bool = False) -> pd.DataFrame:
    """Stack lift tests into the frame the incrementality model takes as ``lift_tests=``.

    Examples
    --------
    >>> from causality.simulate import simulate
    >>> sim = simulate("clean", n_users=2_000, n_days=20)
    >>> frame = lift_tests_frame([sim.lift_test(c) for c in ("Email", "Display")])
    >>> frame.shape
    (2, 6)
    """
    columns = [*LIFT_TEST_COLUMNS, *(_TRUTH_COLUMNS if include_truth else ())]
    return pd.DataFrame([{c: t[c] for c in columns} for t in tests], columns=columns)


def _day(cfg: Config, when: Any, name: str, default: int) -> int:
    if when is None:
        return default
    try:
        stamp = pd.Timestamp(when)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"lift_test(): {name}={when!r} is not a timestamp.") from exc
    if pd.isna(stamp):
        raise ConfigurationError(f"lift_test(): {name}={when!r} is not a timestamp.")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    days = (stamp - cfg.start) / pd.Timedelta(days=1)
    # Suppression acts on whole days: start rounds down, end rounds up.
    return int(np.clip(np.floor(days) if name == "start" else np.ceil(days), 0, cfg.n_days))


def run_lift_test(
    cfg: Config,
    channel: str,
    *,
    holdout: float,
    start: Any,
    end: Any,
    seed: int,
    chunk_users: int,
) -> LiftTest:
    """Run the holdout experiment over every block of users (see :class:`LiftTest`)."""
    if channel not in cfg.channels:
        raise ConfigurationError(
            f"lift_test(): unknown channel {channel!r}; channels are {list(cfg.channels)}."
        )
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 1:
        raise ConfigurationError(f"lift_test(): holdout={holdout!r}; expected a share in (0, 1).")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigurationError(f"lift_test(): seed={seed!r}; expected an integer >= 0.")
    d0, d1 = _day(cfg, start, "start", 0), _day(cfg, end, "end", cfg.n_days)
    if d0 >= d1:
        raise ConfigurationError(
            f"lift_test(): start={start!r} must come before end={end!r}, inside the simulated "
            f"window {cfg.start.date()} + {cfg.n_days} days."
        )
    c = cfg.channels.index(channel)
    counts = np.zeros(6)  # treated n, y; holdout n, y; true, expected
    for first in range(0, cfg.n_users, chunk_users):
        world = World(cfg, np.arange(first, min(first + chunk_users, cfg.n_users)))
        y1, p1 = world.factual_outcome().in_window(d0, d1)
        y0, p0 = y1.copy(), p1.copy()
        # Only users exposed to the channel on the test days can be changed by the holdout.
        sel = np.flatnonzero(world.factual[:, d0:d1, c].any(axis=1))
        allowed = np.ones((sel.size, cfg.n_days, cfg.n_channels), dtype=bool)
        allowed[:, d0:d1, c] = False
        y0[sel], p0[sel] = world.evaluate(sel, allowed).in_window(d0, d1)
        held = keyed_uniform(cfg.seed, f"holdout/{seed}", world.pop.users, channel=channel)
        held = held < holdout
        counts += [
            (~held).sum(),
            y1[~held].sum(),
            held.sum(),
            y0[held].sum(),
            y1.sum() - y0.sum(),
            (p1 - p0).sum(),
        ]
    n_t, y_t, n_h, y_h, true, expected = counts
    if n_t == 0 or n_h == 0:
        raise ConfigurationError(
            f"lift_test(): holdout={holdout} leaves an empty group among {cfg.n_users} users."
        )
    rate_t, rate_h, population = y_t / n_t, y_h / n_h, cfg.n_users
    variance = rate_t * (1 - rate_t) / n_t + rate_h * (1 - rate_h) / n_h
    return LiftTest(
        channel=channel,
        incremental_conversions=float((rate_t - rate_h) * population),
        standard_error=float(np.sqrt(variance) * population),
        start=cfg.start + pd.Timedelta(days=d0),
        end=cfg.start + pd.Timedelta(days=d1),
        population=population,
        holdout=float(holdout),
        true_incremental_conversions=round(true),
        expected_incremental_conversions=float(expected),
        n_treated=round(n_t),
        n_holdout=round(n_h),
        treated_conversions=round(y_t),
        holdout_conversions=round(y_h),
        seed=seed,
    )
