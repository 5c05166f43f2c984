"""The DuckDB path builds exactly the journeys of the pandas path (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import causality as ca
from tests.scale.logs import assert_same_journeys, build_with_warnings, event_logs

pytest.importorskip("duckdb")
from causality.journeys.duckdb_events import journeys_from_duckdb

# The warnings are compared explicitly (build_with_warnings), not shown.
pytestmark = pytest.mark.filterwarnings("ignore::causality.errors.DataWarning")

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(log=event_logs(), batch_size=st.sampled_from([1, 2, 5, 1_000_000]))
def test_arrow_and_parquet_inputs_give_the_pandas_journeys(log, batch_size):
    table, kwargs = log
    expected, expected_warnings = build_with_warnings(
        ca.Journeys.from_events, table.to_pandas(), kwargs
    )

    # Small batches cut persons across batch boundaries: the carried rows must join up.
    from_arrow, arrow_warnings = build_with_warnings(
        journeys_from_duckdb, table, {**kwargs, "batch_size": batch_size}
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.parquet"
        pq.write_table(table, path)
        from_parquet = ca.Journeys.from_events(str(path), **kwargs)

    assert_same_journeys(from_arrow, expected)
    assert_same_journeys(from_parquet, expected)
    # The same warnings with the same counts ("3 anonymous ids ...", "ignored 2 events ...").
    assert arrow_warnings == expected_warnings
