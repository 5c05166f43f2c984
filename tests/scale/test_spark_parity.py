"""journeys_from_spark builds exactly the journeys of the pandas and DuckDB paths."""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import causality as ca
from causality.errors import JourneyValidationError
from causality.spark import journeys_from_spark
from tests.scale.logs import assert_same_journeys, build_with_warnings, event_logs
from tests.scale.test_duckdb_errors import CASES, essentials, good_events

# The warnings are compared explicitly (build_with_warnings), not shown.
pytestmark = pytest.mark.filterwarnings("ignore::causality.errors.DataWarning")

SPARK_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow
@SPARK_SETTINGS
@given(log=event_logs())
def test_spark_gives_the_pandas_and_duckdb_journeys(spark, log):
    table, kwargs = log
    expected, expected_warnings = build_with_warnings(
        ca.Journeys.from_events, table.to_pandas(), kwargs
    )

    got, got_warnings = build_with_warnings(
        journeys_from_spark, spark.createDataFrame(table), kwargs
    )

    assert_same_journeys(got, expected)
    assert_same_journeys(ca.Journeys.from_events(table, **kwargs), got)
    assert got_warnings == expected_warnings


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["unparsed timestamps", "no id", "blank channel", "value not a number"]
)
def test_spark_raises_the_pandas_error(spark, case):
    table = pa.Table.from_pandas(CASES[case](good_events()), preserve_index=False)
    with pytest.raises(JourneyValidationError) as pandas_error:
        ca.Journeys.from_events(table.to_pandas())
    with pytest.raises(JourneyValidationError) as spark_error:
        journeys_from_spark(spark.createDataFrame(table))

    assert essentials(str(spark_error.value)) == essentials(str(pandas_error.value))


def test_without_pyspark_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)

    with pytest.raises(ImportError, match=r"causality\[spark\]"):
        journeys_from_spark(object())
