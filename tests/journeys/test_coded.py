"""Coded segments: the cut of coded events that the API's path tables are made of."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causality.journeys.coded import coded_segments


@pytest.mark.parametrize("lookback", [5, np.int64(5)])
def test_segments_take_a_lookback_in_the_unit_of_the_times(lookback):
    person, is_conv = np.array([0, 0, 0, 1, 1]), np.array([False, False, True, False, True])
    micros, value = np.array([1, 5, 9, 2, 3]), np.array([0.0, 0.0, 5.0, 0.0, 2.0])
    in_ns = coded_segments(person, micros * 1000, is_conv, value, lookback=pd.Timedelta("5us"))
    in_us = coded_segments(person, micros, is_conv, value, lookback=lookback)
    for field in ("kept_rows", "last_row", "touches", "converts", "value"):
        np.testing.assert_array_equal(getattr(in_us, field), getattr(in_ns, field))
    assert in_us.touches.tolist() == [1, 1]  # the touch at 1 us is 8 us before its conversion
