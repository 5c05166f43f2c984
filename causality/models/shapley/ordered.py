"""The ordered Shapley value (Zhao et al. 2018): credit by touch position.

Zhao, Mahboobi and Bagheri's ordered Shapley value of channel ``c`` at touch
position ``i`` counts, for every coalition ``S`` containing ``c``, the
conversions of journeys of coalition ``S`` whose ``i``-th touch is ``c``,
weighted by the channel's per-journey Shapley share. A channel touched more
than once in a journey splits that journey's share equally among its touches
(as the reference implementation of the paper's simplified formula does), so
summing a channel's credit over positions gives back its Shapley credit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causality.journeys import Journeys


def credit_by_position(
    data: Journeys,
    record_coalition: np.ndarray,
    cell_coalition: np.ndarray,
    cell_channel: np.ndarray,
    cell_fraction: np.ndarray,
) -> pd.DataFrame:
    """Conversions and value credited to each (channel, touch position).

    Parameters
    ----------
    data : Journeys
    record_coalition : ndarray of int
        Coalition of every record, -1 for records that earn no credit.
    cell_coalition, cell_channel, cell_fraction : ndarray
        Each coalition's channels and the fraction of a journey's conversion
        each one earns (fractions of a coalition sum to 1).

    Returns
    -------
    DataFrame
        Index ``(channel, position)`` with ``position`` 1 for the first touch;
        columns ``conversions, value``; only cells with credit.
    """
    n_channels = len(data.channels)
    cell_key = cell_coalition.astype(np.int64) * n_channels + cell_channel
    order = np.argsort(cell_key)
    cell_key, cell_fraction = cell_key[order], cell_fraction[order]

    record = data.record_of_touch()
    coalition = record_coalition[record]
    touch_key = np.where(coalition >= 0, coalition, 0) * n_channels + data.codes
    fraction = np.zeros(len(record))
    if len(cell_key):
        found = np.minimum(np.searchsorted(cell_key, touch_key), len(cell_key) - 1)
        hit = (coalition >= 0) & (cell_key[found] == touch_key)
        fraction[hit] = cell_fraction[found[hit]]

    # A channel touched k times in a journey gives each touch 1/k of its share.
    _, same, repeats = np.unique(
        record * n_channels + data.codes, return_inverse=True, return_counts=True
    )
    fraction = fraction / repeats[same.reshape(-1)]

    position = data.position_of_touch()
    longest = int(position.max(initial=0)) + 1
    key = data.codes.astype(np.int64) * longest + position
    size = n_channels * longest
    conversions = np.bincount(key, fraction * data.conversions[record], minlength=size)
    value = np.bincount(key, fraction * data.value[record], minlength=size)
    keep = np.flatnonzero((conversions != 0) | (value != 0))
    index = pd.MultiIndex.from_arrays(
        [np.asarray(data.channels, dtype=object)[keep // longest], keep % longest + 1],
        names=["channel", "position"],
    )
    return pd.DataFrame({"conversions": conversions[keep], "value": value[keep]}, index=index)
