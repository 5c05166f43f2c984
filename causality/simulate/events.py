"""The event log of the factual world, as an analyst would receive it.

* One ``touch`` row per logged exposure (a ``tracking_loss`` share of exposures acted but is
  missing), at a keyed second of its day; exposures on a conversion day are placed before
  the conversion, so attribution windows see them.
* One ``conversion`` row per converting user (one purchase per user), ``value`` the user's
  purchase value; an ``offline_share`` of conversions are flagged ``offline`` (store, phone).
* Identity: an ``anonymous_share`` of users browse anonymously, their rows carrying only an
  ``anonymous_id``, until an ``identify`` row (both ids) at a time spread uniformly over
  ``identify_spread * n_days`` days (some never identify inside the window); a purchase
  identifies the user one second before it at the latest. Later rows carry only
  ``user_id``. Other users carry only ``user_id``.
* Touches after a user's purchase are logged too (exposures do not react to the purchase)
  unless ``log_after_conversion=False``.
* ``device``, ``region`` and ``prior_visits`` are repeated on every row of their user.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causality.simulate.population import DEVICES, REGIONS
from causality.simulate.rng import keyed_uniform, name_key
from causality.simulate.world import Outcome, World

__all__ = ["EVENT_TYPES", "assemble_events", "chunk_events"]

EVENT_TYPES = ("touch", "identify", "conversion")  # also the tie-break order within a second
_DAY = 86_400
_TOUCH_SPAN = 86_000  # touches fall in the first 86,000 s, leaving room for a purchase after


def _touch_seconds(world: World, users: np.ndarray, days: np.ndarray, c: int) -> np.ndarray:
    """Second of the day of exposures (users, days) to channel c: keyed, world-invariant."""
    cfg = world.cfg
    u = keyed_uniform(cfg.seed, "touch_time", users, days, cfg.channels[c])
    return np.floor(u * _TOUCH_SPAN).astype(np.int64)


def _touches(world: World) -> dict[str, np.ndarray]:
    cfg, users = world.cfg, world.pop.users
    parts: list[tuple[np.ndarray, ...]] = []
    for c, name in enumerate(cfg.channels):
        row, day = np.nonzero(world.factual[:, :, c])
        if cfg.tracking_loss[c] > 0:
            kept = keyed_uniform(cfg.seed, "tracking", users[row], day, name)
            keep = kept >= cfg.tracking_loss[c]
            row, day = row[keep], day[keep]
        seconds = day * _DAY + _touch_seconds(world, users[row], day, c)
        parts.append((row, seconds, np.full(row.size, c, dtype=np.int16)))
    row, seconds, channel = (np.concatenate(p) for p in zip(*parts, strict=True))
    return {"row": row, "seconds": seconds, "channel": channel}


def _conversions(world: World, factual: Outcome) -> tuple[np.ndarray, np.ndarray]:
    """Rows and absolute seconds of purchases, after every exposure of that day."""
    cfg, users = world.cfg, world.pop.users
    row = np.flatnonzero(factual.converted)
    day = factual.day[row]
    last = np.full(row.size, -1, dtype=np.int64)
    for c in range(cfg.n_channels):
        seen = world.factual[row, day, c]
        if seen.any():
            t = _touch_seconds(world, users[row[seen]], day[seen], c)
            last[seen] = np.maximum(last[seen], t)
    u = keyed_uniform(cfg.seed, "conversion_time", users[row])
    return row, day * _DAY + last + 1 + np.floor(u * (_DAY - 1 - last)).astype(np.int64)


def chunk_events(world: World, factual: Outcome) -> dict[str, np.ndarray]:
    """Event rows of one block of users, as aligned arrays (see :func:`assemble_events`)."""
    cfg, pop = world.cfg, world.pop
    p, users = cfg.params, pop.users
    touch = _touches(world)
    conv_row, conv_seconds = _conversions(world, factual)
    purchase = np.full(world.n, np.iinfo(np.int64).max)
    purchase[conv_row] = conv_seconds
    if not p["log_after_conversion"]:
        keep = touch["seconds"] < purchase[touch["row"]]
        touch = {k: v[keep] for k, v in touch.items()}
    horizon = cfg.n_days * _DAY
    anonymous = keyed_uniform(cfg.seed, "anonymous", users) < p["anonymous_share"]
    spread = keyed_uniform(cfg.seed, "identify", users) * p["identify_spread"] * horizon
    identify = np.maximum(np.minimum(np.floor(spread).astype(np.int64), purchase - 1), 0)
    active = np.zeros(world.n, dtype=bool)
    active[touch["row"]] = True
    active[conv_row] = True
    id_row = np.flatnonzero(anonymous & active & (identify < horizon))
    n_t, n_c, n_i = touch["row"].size, conv_row.size, id_row.size
    row = np.concatenate([touch["row"], id_row, conv_row])
    seconds = np.concatenate([touch["seconds"], identify[id_row], conv_seconds])
    kind = np.repeat(np.arange(3, dtype=np.int8), [n_t, n_i, n_c])
    # Rows before the identify row (same second: touches sort first) carry no user_id.
    before = (seconds < identify[row]) | ((seconds == identify[row]) & (kind == 0))
    hidden = anonymous[row] & before
    offline = keyed_uniform(cfg.seed, "offline", users[conv_row]) < p["offline_share"]
    return {
        "user": users[row],
        "seconds": seconds,
        "kind": kind,
        "channel": np.concatenate([touch["channel"], np.full(n_i + n_c, -1, dtype=np.int16)]),
        "value": np.concatenate([np.full(n_t + n_i, np.nan), pop.value[conv_row]]),
        "offline": np.concatenate([np.zeros(n_t + n_i, dtype=bool), offline]),
        "show_user": ~hidden | (kind == 1),
        "show_anonymous": anonymous[row] & (hidden | (kind == 1)),
        "device": pop.device[row],
        "region": pop.region[row],
        "prior_visits": pop.prior_visits[row],
    }


def _strings(codes: np.ndarray, categories: list[str]) -> pd.api.extensions.ExtensionArray:
    """Build a string column through a categorical: one Python string per distinct value."""
    return pd.Categorical.from_codes(codes, categories=categories).astype("string")


def _ids(
    user: np.ndarray, show: np.ndarray, label: str, seed: int, n_users: int
) -> pd.api.extensions.ExtensionArray:
    distinct, inverse = np.unique(user, return_inverse=True)
    if label == "u":
        width = max(7, len(str(n_users - 1)))
        names = [f"u{i:0{width}d}" for i in distinct.tolist()]
    else:  # anonymous ids look like cookie ids: distinct per user, stable per seed
        key = name_key(f"{seed}/anonymous_id")
        names = [
            f"a{(i * 0x9E3779B97F4A7C15 ^ key) & 0xFFFFFFFFFFFF:012x}" for i in distinct.tolist()
        ]
    return _strings(np.where(show, inverse, -1), names)


def assemble_events(
    parts: list[dict[str, np.ndarray]],
    channels: tuple[str, ...],
    start: pd.Timestamp,
    seed: int,
    n_users: int,
) -> pd.DataFrame:
    """Concatenate blocks, sort by time (ties: user, event type, channel), build columns.

    Empties ``parts`` as it goes, so each block's arrays are freed once copied.
    """

    def column(key: str) -> np.ndarray:
        return np.concatenate([p.pop(key) for p in parts])

    keys = {k: column(k) for k in ("channel", "kind", "user", "seconds")}
    order = np.lexsort(tuple(keys.values()))
    user = keys.pop("user")[order]
    stamps = start.as_unit("ns").value + keys.pop("seconds")[order] * 1_000_000_000
    return pd.DataFrame(
        {
            "user_id": _ids(user, column("show_user")[order], "u", seed, n_users),
            "anonymous_id": _ids(user, column("show_anonymous")[order], "a", seed, n_users),
            "timestamp": pd.DatetimeIndex(stamps.astype("datetime64[ns]")).tz_localize("UTC"),
            "event_type": _strings(keys.pop("kind")[order], list(EVENT_TYPES)),
            "channel": _strings(keys.pop("channel")[order], list(channels)),
            "value": column("value")[order],
            "offline": column("offline")[order],
            "device": _strings(column("device")[order], list(DEVICES)),
            "region": _strings(column("region")[order], list(REGIONS)),
            "prior_visits": column("prior_visits")[order],
        }
    )
