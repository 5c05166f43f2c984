"""Regenerate channelattribution_markov.csv: ChannelAttribution's Markov credit on Data.csv.

ChannelAttribution (GPL) estimates removal effects by simulating paths, so its
credit moves between seeds; this records, for orders 1-3, the credit of each of
several seeds at ``nsim_start=1e6``, and of one run at ``nsim_start=1e7`` (seed 1,
recorded with ``nsim == 1e7``), the closest to the exact value it estimates. Run in a
separate environment with ``pip install channelattribution``:

    python tests/reference/make_channelattribution_markov.py \\
        ../shared/data/channelattribution/Data.csv

It is never imported by causality or its tests; only its stored output is read.
"""

import sys
from pathlib import Path

import pandas as pd
from ChannelAttribution import markov_model

SEEDS = (11, 23, 37, 41, 59)

data = pd.read_csv(sys.argv[1], sep=";")
rows = []
for order in (1, 2, 3):
    for seed, nsim in [(s, 1_000_000) for s in SEEDS] + [(1, 10_000_000)]:
        out = markov_model(
            data,
            "path",
            "total_conversions",
            var_value="total_conversion_value",
            var_null="total_null",
            order=order,
            sep=">",
            nsim_start=nsim,
            seed=seed,
            verbose=False,
            flg_pro=False,
        )
        credit = out["result"] if isinstance(out, dict) else out
        credit = credit.assign(order=order, seed=seed, nsim=nsim)
        rows.append(credit)
        print(order, seed, flush=True)
table = pd.concat(rows, ignore_index=True)
table.to_csv(Path(__file__).with_name("channelattribution_markov.csv"), index=False)
print(table)
