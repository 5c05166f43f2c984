"""Generate the example event log shipped as ``example_events.csv.gz``.

Run ``python -m causality.datasets.generate_example`` to rebuild it; the output is
identical for the same seed. The log mimics a small online shop over one
quarter: 4,000 people, 7 channels, anonymous browsing that is later identified,
repeat purchases, offline (phone/store) conversions and revenue that grows with
purchase intent. It is illustrative data with plausible structure, not a
simulation with known causal truth (that is `causality.simulate`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240501
N_USERS = 4_000
START = pd.Timestamp("2024-04-01", tz="UTC")
N_DAYS = 91
CHANNELS = np.array(
    ["Paid Search", "Paid Social", "Email", "Display", "Organic Search", "Direct", "Affiliates"]
)
# Channel mix early in a person's sessions (discovery) and late (intent).
EARLY_MIX = np.array([0.14, 0.26, 0.04, 0.24, 0.18, 0.06, 0.08])
LATE_MIX = np.array([0.26, 0.08, 0.20, 0.05, 0.14, 0.20, 0.07])
# Conversion log-odds added by each channel touched (illustrative, not ground truth).
CHANNEL_LIFT = np.array([0.35, 0.15, 0.30, 0.02, 0.20, 0.10, 0.25])
OUTPUT = Path(__file__).with_name("data") / "example_events.csv.gz"


def generate(seed: int = SEED, n_users: int = N_USERS) -> pd.DataFrame:
    """Return the example event log (one row per event, sorted by time)."""
    rng = np.random.default_rng(seed)
    intent = rng.gamma(2.0, 0.5, size=n_users)
    device = rng.choice(["mobile", "desktop", "tablet"], size=n_users, p=[0.58, 0.36, 0.06])
    region = rng.choice(["North", "South", "East", "West"], size=n_users)

    n_sessions = 1 + rng.poisson(1.0 + 2.5 * intent)
    user = np.repeat(np.arange(n_users), n_sessions)
    starts = np.concatenate([[0], np.cumsum(n_sessions)[:-1]])
    rank = np.arange(len(user)) - np.repeat(starts, n_sessions)
    stage = rank / np.maximum(np.repeat(n_sessions, n_sessions) - 1, 1)

    first_day = rng.uniform(0, N_DAYS - 10, size=n_users)
    gaps = rng.exponential(3.0, size=len(user))
    gaps[rank == 0] = 0.0
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[starts], n_sessions)
    day = np.minimum(np.repeat(first_day, n_sessions) + offset, N_DAYS - 1e-3)

    mix = (1 - stage)[:, None] * EARLY_MIX + stage[:, None] * LATE_MIX
    channel = (rng.uniform(size=len(user))[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)

    # A person converts with a logistic probability in intent and channels touched.
    touched = np.zeros((n_users, len(CHANNELS)))
    np.add.at(touched, (user, channel), 1.0)
    logit = -2.6 + 0.9 * intent + np.log1p(touched) @ CHANNEL_LIFT
    converts = rng.uniform(size=n_users) < 1 / (1 + np.exp(-logit))
    # The purchase follows a random session; a quarter of buyers buy again later.
    after = np.floor(rng.uniform(size=n_users) * n_sessions).astype(int)
    conv_day = day[starts + after] + rng.exponential(0.05, size=n_users)
    repeat = converts & (rng.uniform(size=n_users) < 0.25)
    conv_users = np.concatenate([np.flatnonzero(converts), np.flatnonzero(repeat)])
    conv_days = np.concatenate(
        [conv_day[converts], conv_day[repeat] + rng.uniform(5, 30, size=repeat.sum())]
    )
    in_range = conv_days < N_DAYS
    conv_users, conv_days = conv_users[in_range], conv_days[in_range]
    values = np.round(rng.lognormal(3.6 + 0.25 * intent[conv_users], 0.6), 2)
    offline = rng.uniform(size=len(conv_users)) < 0.1

    touches = pd.DataFrame(
        {
            "user": user,
            "day": day,
            "event_type": "touch",
            "channel": CHANNELS[channel],
            "value": np.nan,
            "offline": False,
        }
    )
    conversions = pd.DataFrame(
        {
            "user": conv_users,
            "day": conv_days,
            "event_type": "conversion",
            "channel": None,
            "value": values,
            "offline": offline,
        }
    )
    events = pd.concat([touches, conversions], ignore_index=True)

    # A third of people browse anonymously until they log in at their second session.
    anonymous_first = rng.uniform(size=n_users) < 0.35
    login_day = np.where(n_sessions > 1, day[np.minimum(starts + 1, len(day) - 1)], np.inf)
    links = np.flatnonzero(anonymous_first & np.isfinite(login_day))
    identify = pd.DataFrame(
        {
            "user": links,
            "day": login_day[links] + 1e-4,
            "event_type": "identify",
            "channel": None,
            "value": np.nan,
            "offline": False,
        }
    )
    events = pd.concat([events, identify], ignore_index=True)
    is_anon = anonymous_first[events["user"]] & (events["day"] < login_day[events["user"]])
    is_anon &= events["event_type"].eq("touch").to_numpy()
    user_ids = np.char.add("u", np.char.zfill(np.arange(n_users).astype(str), 5))
    anon_ids = np.char.add("a-", np.char.zfill((rng.permutation(n_users) * 7 + 13).astype(str), 6))
    uid = user_ids[events["user"]]
    events["user_id"] = pd.Series(uid, dtype="string").mask(is_anon.to_numpy())
    is_identify = events["event_type"].eq("identify").to_numpy()
    events["anonymous_id"] = pd.Series(anon_ids[events["user"]], dtype="string").where(
        (is_anon | is_identify).to_numpy()
    )
    events["timestamp"] = (START + pd.to_timedelta(events["day"], unit="D")).dt.floor("s")
    events["device"] = device[events["user"]]
    events["region"] = region[events["user"]]
    columns = [
        "user_id",
        "anonymous_id",
        "timestamp",
        "event_type",
        "channel",
        "value",
        "offline",
        "device",
        "region",
    ]
    return events.sort_values(["timestamp", "event_type"], kind="stable")[columns].reset_index(
        drop=True
    )


def main() -> None:
    """Write the example log next to this script."""
    events = generate()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    events.to_csv(OUTPUT, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"wrote {len(events):,} events to {OUTPUT}")


if __name__ == "__main__":
    main()
