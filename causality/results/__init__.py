"""The result type every model returns, its summary, plots and comparison."""

from causality.results.result import AttributionResult
from causality.results.table import CONFIDENCE_THRESHOLDS, TABLE_COLUMNS, build_table

__all__ = ["CONFIDENCE_THRESHOLDS", "TABLE_COLUMNS", "AttributionResult", "build_table"]
