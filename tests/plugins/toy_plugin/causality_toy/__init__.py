"""A third-party attribution model, registered only through its entry point."""

import dataclasses

import numpy as np

from causality.models import HeuristicModel


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistinctChannels(HeuristicModel):
    """Equal credit to each distinct channel of a journey, however often it was touched."""

    name = "distinct_channels"
    description = "Equal credit to each distinct channel of the journey (a test plug-in)."

    def _touch_weights(self, data):
        record = data.record_of_touch()
        pair = record * len(data.channels) + data.codes
        _, first_index = np.unique(pair, return_index=True)
        weights = np.zeros(data.n_touches)
        weights[first_index] = 1.0
        return weights
