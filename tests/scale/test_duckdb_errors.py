"""The DuckDB path refuses the data the pandas path refuses, with the same message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import causality as ca
from causality.errors import ConfigurationError, JourneyValidationError

pytest.importorskip("duckdb")


def good_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u2"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-03", "2024-01-04"]
            ),
            "event_type": ["touch", "conversion", "touch", "touch", "conversion"],
            "channel": ["Email", None, "Search", "Display", None],
            "value": [np.nan, 10.0, np.nan, np.nan, 4.0],
        }
    )


def with_column(name, values, dtype=None):
    def change(frame):
        return frame.assign(**{name: pd.Series(values, dtype=dtype)})

    return change


CASES = {
    "missing timestamps": with_column(
        "timestamp", [pd.Timestamp("2024-01-01"), None, pd.Timestamp("2024-01-02"), None, None]
    ),
    "unparsed timestamps": with_column(
        "timestamp", ["2024-01-01", "2024-01-02", "yesterday", "2024-01-03", "soon"], object
    ),
    "numeric timestamps": with_column("timestamp", [1, 2, 3, 4, 5]),
    "no id": with_column("user_id", ["u1", None, "u2", "u2", None], object),
    "missing channel": with_column("channel", ["Email", None, None, "Display", None], object),
    "blank channel": with_column("channel", ["Email", None, "  ", "Display", None], object),
    "value not a number": with_column("value", [None, "$10", None, None, "4"], object),
    "missing value": with_column("value", [np.nan, np.nan, np.nan, np.nan, 4.0]),
    "infinite value": with_column("value", [np.nan, np.inf, np.nan, np.nan, 4.0]),
    "negative value": with_column("value", [np.nan, -10.0, np.nan, np.nan, 4.0]),
    "offline not boolean": with_column("offline", ["no", "maybe", None, "yes", "perhaps"], object),
    "no conversions": with_column("event_type", ["touch"] * 5),
    "empty": lambda frame: frame.iloc[:0],
}


def error_of(events, **kwargs) -> str:
    with pytest.raises(JourneyValidationError) as info:
        ca.Journeys.from_events(events, **kwargs)
    return str(info.value)


def essentials(message: str) -> tuple[str, str]:
    """The rule with its row count, and the fix (the shown rows may be formatted apart)."""
    head = message.split("; first")[0].split(" holds numbers")[0]
    return head, message.split("Fix:")[-1].strip()


@pytest.mark.parametrize("case", list(CASES))
def test_duckdb_raises_the_pandas_error(case):
    events = CASES[case](good_events())
    table = pa.Table.from_pandas(events, preserve_index=False)

    assert essentials(error_of(table)) == essentials(error_of(table.to_pandas()))


def test_the_error_shows_the_first_offending_rows_by_input_position():
    events = CASES["negative value"](good_events())
    message = error_of(pa.Table.from_pandas(events, preserve_index=False))

    assert "negative conversion values in 1 row; first 1:" in message
    assert message.splitlines()[2].split() == ["1", "conversion", "-10.0"]


def test_missing_role_column_and_bad_parameters_raise_like_pandas():
    table = pa.Table.from_pandas(good_events(), preserve_index=False)

    assert error_of(table, timestamp="ts") == error_of(table.to_pandas(), timestamp="ts")
    with pytest.raises(ConfigurationError, match="lookback"):
        ca.Journeys.from_events(table, lookback=30)
    with pytest.raises(ConfigurationError, match="overlap"):
        ca.Journeys.from_events(table, touch_types=["touch"], conversion_types=["touch"])
