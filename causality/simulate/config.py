"""Validated parameters compiled to the numpy arrays the simulation code uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from causality.simulate.scenarios import PER_CHANNEL

__all__ = ["Config", "topological_order"]


def topological_order(
    channels: list[str],
    mediation: dict[str, dict[str, float]],
    error: Callable[[str, Any, str], Exception] | None = None,
) -> list[int]:
    """Channel indices with every mediator before the channels it drives.

    A cycle raises ``error(name, value, message)`` (validation passes one that names the
    parameter), or ``ValueError``.
    """
    index = {c: i for i, c in enumerate(channels)}
    parents = {i: set() for i in range(len(channels))}
    for source, targets in mediation.items():
        for target, strength in targets.items():
            if strength > 0.0:
                parents[index[target]].add(index[source])
    order: list[int] = []
    done: set[int] = set()
    while len(order) < len(channels):
        ready = [i for i in parents if i not in done and parents[i] <= done]
        if not ready:
            cycle = [channels[i] for i in parents if i not in done]
            message = f"it must be acyclic; a cycle runs among {cycle}"
            raise (error or _value_error)("mediation", mediation, message)
        order.extend(ready)
        done.update(ready)
    return order


def _value_error(name: str, value: Any, message: str) -> Exception:
    return ValueError(f"{name} = {value!r}: {message}")


@dataclass(frozen=True, eq=False)
class Config:
    """Validated parameters as arrays (internal; ``params`` is the public record)."""

    params: dict[str, Any]
    channels: tuple[str, ...]
    n_users: int
    n_days: int
    seed: int
    exposure: np.ndarray
    targeting: np.ndarray
    visit_boost: np.ndarray
    lift: np.ndarray
    decay: np.ndarray
    saturation: np.ndarray
    tracking_loss: np.ndarray
    mediation: np.ndarray  # (C, C): [source, target]
    synergy: tuple[tuple[int, int, float], ...]
    order: tuple[int, ...]  # topological order of channels under mediation
    ancestors: np.ndarray  # (C,) int64 bitmask of every upstream mediator
    start: pd.Timestamp

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channels)

    @cached_property
    def targets(self) -> tuple[int, ...]:
        """Mediated channels, in an order where every mediator comes first."""
        return tuple(c for c in self.order if self.mediation[:, c].any())

    @cached_property
    def parents(self) -> dict[int, tuple[int, ...]]:
        """Mediators of each channel, in index order."""
        return {
            c: tuple(int(a) for a in np.flatnonzero(self.mediation[:, c]))
            for c in range(self.n_channels)
        }

    @cached_property
    def mediators(self) -> frozenset[int]:
        """Channels that raise some other channel's exposure."""
        return frozenset(int(a) for a in np.flatnonzero(self.mediation.any(axis=1)))

    @cached_property
    def effect_channels(self) -> tuple[int, ...]:
        """Channels that can move the hazard (zero-lift channels outside synergies cannot)."""
        paired = {a for a, b, _ in self.synergy} | {b for a, b, _ in self.synergy}
        return tuple(c for c in range(self.n_channels) if self.lift[c] != 0.0 or c in paired)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Config:
        """Compile a ``params`` dict from :func:`resolve_params` (already validated)."""
        channels = tuple(params["channels"])
        index = {c: i for i, c in enumerate(channels)}
        n = len(channels)
        mediation = np.zeros((n, n))
        for source, targets in params["mediation"].items():
            for target, v in targets.items():
                mediation[index[source], index[target]] = v
        order = topological_order(list(channels), params["mediation"])
        ancestors = np.zeros(n, dtype=np.int64)
        for c in order:  # mediators first, so their ancestor sets are complete
            for p in np.flatnonzero(mediation[:, c] > 0):
                ancestors[c] |= ancestors[p] | (1 << int(p))
        synergy = tuple(
            (index[a], index[b], float(v))
            for a, targets in params["synergy"].items()
            for b, v in targets.items()
            if v != 0.0
        )
        per = {k: np.array([params[k][c] for c in channels], dtype=float) for k in PER_CHANNEL}
        return cls(
            params=params,
            channels=channels,
            n_users=params["n_users"],
            n_days=params["n_days"],
            seed=params["seed"],
            mediation=mediation,
            synergy=synergy,
            order=tuple(order),
            ancestors=ancestors,
            start=pd.Timestamp(params["start"]),
            **per,
        )
