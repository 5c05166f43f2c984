"""Regenerate channelattribution_heuristics.csv (test-only reference; ChannelAttribution is GPL).

Run in a separate environment with ``pip install channelattribution``:

    python tests/reference/make_channelattribution_heuristics.py \
        ../shared/data/channelattribution/Data.csv

It is never imported by causality or its tests; only its stored output is read.
"""

import sys
from pathlib import Path

import pandas as pd
from ChannelAttribution import heuristic_models

data = pd.read_csv(sys.argv[1], sep=";")
out = heuristic_models(
    data, "path", "total_conversions", var_value="total_conversion_value", sep=">"
)
out.to_csv(Path(__file__).with_name("channelattribution_heuristics.csv"), index=False)
print(out)
