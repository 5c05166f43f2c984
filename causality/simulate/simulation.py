"""``simulate()`` and the :class:`Simulation` it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causality.simulate.config import Config
from causality.simulate.events import assemble_events, chunk_events
from causality.simulate.ga4_export import write_ga4
from causality.simulate.lift import LiftTest, run_lift_test
from causality.simulate.params import resolve_params
from causality.simulate.truth import chunk_truth, truth_frame
from causality.simulate.world import World

__all__ = ["Simulation", "simulate"]

# Users per block: bounds memory (a few (users x days x channels) arrays per block) while
# keeping numpy calls large enough that Python overhead stays small.
_BLOCK_CELLS = 20_000_000


def _block_size(cfg: Config) -> int:
    return max(1_000, _BLOCK_CELLS // (cfg.n_days * cfg.n_channels))


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated world: its event log, its causal truth, and how it was made.

    Attributes
    ----------
    events
        The event log, sorted by time: ``user_id`` and ``anonymous_id`` (string, NA where a
        row lacks that id; ``identify`` rows carry both), ``timestamp`` (UTC),
        ``event_type`` (``touch``, ``identify``, ``conversion``), ``channel`` (string on
        touches, NA elsewhere), ``value`` (revenue on conversions, NaN elsewhere),
        ``offline`` (bool), then the user's ``device``, ``region`` (string) and
        ``prior_visits`` (int) on every row, as per-journey covariates. See
        :mod:`causality.simulate.events` for how rows are made.
    truth
        Per-channel truth indexed by ``channel``: ``incremental_*`` (total effect, mediation
        included), ``direct_*`` (other channels held as observed), ``shapley_*`` (exact
        Shapley split of total minus baseline) and ``expected_*`` (no conversion noise).
    baseline_conversions, expected_baseline_conversions, baseline_value
        Conversions with every channel removed (realised; expected) and their revenue.
    total_conversions, expected_total_conversions, total_value
        Conversions and revenue of the factual world (every purchase is in ``events``).
    params
        Every generating parameter, JSON-serialisable; passing them back
        (``simulate(p.pop("scenario"), **p)`` with ``p = dict(params)``) rebuilds the world.
    scenario, seed
        As passed to :func:`simulate`.
    """

    events: pd.DataFrame
    truth: pd.DataFrame
    baseline_conversions: int
    expected_baseline_conversions: float
    baseline_value: float
    total_conversions: int
    expected_total_conversions: float
    total_value: float
    params: dict[str, Any]
    scenario: str
    seed: int

    def lift_test(
        self,
        channel: str,
        *,
        holdout: float = 0.1,
        start: Any = None,
        end: Any = None,
        seed: int = 0,
    ) -> LiftTest:
        """Run a randomised holdout test of ``channel`` inside this world.

        Parameters
        ----------
        channel
            The channel whose exposures the holdout group does not get.
        holdout
            Share of users held out, in (0, 1).
        start, end
            Test days [start, end) (rounded out to whole days); default the whole window.
        seed
            Seed of the holdout assignment (the world itself is fixed).

        Returns
        -------
        LiftTest
            Estimate, standard error and true effect; ``.to_frame()`` gives the
            ``lift_tests=`` row.

        Examples
        --------
        >>> sim = simulate("clean", n_users=5_000, n_days=30, seed=1)
        >>> test = sim.lift_test("Display Retargeting", holdout=0.2)
        >>> test.true_incremental_conversions
        0
        """
        cfg = Config.from_params(self.params)
        return run_lift_test(
            cfg,
            channel,
            holdout=holdout,
            start=start,
            end=end,
            seed=seed,
            chunk_users=_block_size(cfg),
        )

    def to_ga4(
        self,
        path: str | Path,
        *,
        format: str = "ndjson",
        duplicate_purchases: float = 0.1,
        traffic: Mapping[str, tuple[str, str, str, str | None]] | None = None,
        progress: bool | None = None,
    ) -> list[Path]:
        """Write the event log as a GA4 BigQuery export: one ``events_YYYYMMDD`` file a day.

        Touches become sessions whose hits carry the channel's ``source``/``medium``/
        ``campaign`` (see :data:`causality.simulate.ga4_export.TRAFFIC`), conversions
        become ``purchase`` events with revenue and a ``transaction_id`` (some sent twice,
        as reloaded pages do); :mod:`causality.simulate.ga4_export` has the details.
        ``causality.io.read_ga4(path)`` reads it back.

        Parameters
        ----------
        path
            Folder to write into (created if needed).
        format
            ``"ndjson"`` (BigQuery's JSON export, INT64 as strings), ``"json"`` (a JSON
            array per file) or ``"parquet"``.
        duplicate_purchases
            Share of purchases sent twice, 30 seconds apart, with the same transaction id.
        traffic
            ``{channel: (source, medium, campaign, click_id_param or None)}``; default
            :data:`~causality.simulate.ga4_export.TRAFFIC`, which covers the built-in
            channels.
        progress
            Progress bar over days; default: only when someone is watching.

        Returns
        -------
        list of Path
            The files written, in date order.

        Examples
        --------
        >>> import tempfile
        >>> sim = simulate("clean", n_users=300, n_days=3, seed=0)
        >>> [p.name for p in sim.to_ga4(tempfile.mkdtemp(), progress=False)]
        ['events_20240101.json', 'events_20240102.json', 'events_20240103.json']
        """
        return write_ga4(
            self.events,
            path,
            seed=self.seed,
            format=format,
            duplicate_purchases=duplicate_purchases,
            traffic=traffic,
            progress=progress,
        )


def simulate(
    scenario: str = "confounded",
    *,
    n_users: int = 100_000,
    n_days: int = 60,
    seed: int = 0,
    **overrides: Any,
) -> Simulation:
    """Simulate customer journeys with known causal effects.

    Parameters
    ----------
    scenario
        One of :data:`SCENARIOS` (``clean``, ``confounded``, ``mediated``, ``carryover``,
        ``saturation``, ``tracking_loss``).
    n_users, n_days
        Population size and window length in days.
    seed
        Every random draw is a keyed function of this seed.
    **overrides
        Any generating parameter (see :mod:`causality.simulate.scenarios`). Per-channel
        parameters take a ``{channel: value}`` dict that updates the scenario's (or one
        number for every channel); ``mediation`` and ``synergy`` take nested dicts.

    Returns
    -------
    Simulation

    Raises
    ------
    ConfigurationError
        An unknown parameter (the message lists the valid ones) or an invalid value.

    Examples
    --------
    >>> sim = simulate("confounded", n_users=5_000, n_days=30, seed=1)
    >>> list(sim.events.columns[:7])
    ['user_id', 'anonymous_id', 'timestamp', 'event_type', 'channel', 'value', 'offline']
    >>> int(sim.truth.loc["Display Retargeting", "incremental_conversions"])
    0
    >>> sim.total_conversions == (sim.events["event_type"] == "conversion").sum()
    True
    """
    params = resolve_params(scenario, n_users, n_days, seed, overrides)
    cfg = Config.from_params(params)
    block = _block_size(cfg)
    parts, sums = [], None
    for first in range(0, cfg.n_users, block):
        world = World(cfg, np.arange(first, min(first + block, cfg.n_users)))
        factual = world.factual_outcome()
        parts.append(chunk_events(world, factual))
        chunk = chunk_truth(world, factual)
        sums = chunk if sums is None else {k: sums[k] + v for k, v in chunk.items()}
        del world, factual  # free the block before drawing the next
    assert sums is not None  # n_users >= 1
    events = assemble_events(parts, cfg.channels, cfg.start, cfg.seed, cfg.n_users)
    return Simulation(
        events=events,
        truth=truth_frame(cfg.channels, sums),
        baseline_conversions=round(sums["baseline"][0]),
        expected_baseline_conversions=float(sums["baseline"][2]),
        baseline_value=float(sums["baseline"][1]),
        total_conversions=round(sums["factual"][0]),
        expected_total_conversions=float(sums["factual"][2]),
        total_value=float(sums["factual"][1]),
        params=params,
        scenario=scenario,
        seed=params["seed"],
    )
