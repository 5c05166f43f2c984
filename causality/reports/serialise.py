"""The report as a JSON-safe dict, and back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from causality.errors import ConfigurationError
from causality.results.result import AttributionResult, _jsonable

if TYPE_CHECKING:
    from causality.reports.report import Report

#: Version of the form `report_to_dict` writes.
REPORT_SCHEMA_VERSION = 1
_PATH_COLUMNS = ("path", "conversions", "value", "nulls", "conversion_rate", "share")


def report_to_dict(report: Report) -> dict[str, Any]:
    """``report`` as a JSON-safe dict.

    What rebuilds the report (``title``, ``labels``, ``results`` as each result's own
    ``to_dict``, ``truth``, ``top_paths``) comes with what the report derives from them
    (``headline``, ``findings``, ``channel_order``, ``truth_comparison``, ``methods``), so
    consumers need not recompute it.
    """
    from causality import __version__

    truth = None
    if report.truth is not None:
        truth = {
            "name": str(report.truth.name),
            "values": [
                {"channel": c, "conversions": _jsonable(v)} for c, v in report.truth.items()
            ],
        }
    comparison = report.truth_comparison
    return {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "causality_version": __version__,
        "title": report.title,
        "labels": list(report.labels),
        "headline": _jsonable(report.headline),
        "findings": list(report.findings),
        "channel_order": list(report.order),
        "results": [r.to_dict() for r in report.results],
        "truth": truth,
        "truth_comparison": None if comparison is None else _records(comparison),
        "top_paths": None if report.paths is None else _records(report.paths),
        "methods": _jsonable(report.methods),
    }


def report_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The `Report` fields stored in `report_to_dict` output."""
    version = data.get("report_schema_version")
    if version != REPORT_SCHEMA_VERSION:
        raise ConfigurationError(
            f"cannot read a report of report_schema_version {version!r}; this causality "
            f"reads version {REPORT_SCHEMA_VERSION}. Fix: use causality "
            f"{data.get('causality_version')!r}, which wrote it."
        )
    truth, paths = data.get("truth"), data.get("top_paths")
    if truth is not None:
        values = {v["channel"]: v["conversions"] for v in truth["values"]}
        truth = pd.Series(values, name=truth["name"], dtype=float).rename_axis("channel")
    if paths is not None:
        paths = pd.DataFrame.from_records(paths, columns=list(_PATH_COLUMNS))
        paths["path"] = [tuple(p) for p in paths["path"]]
    return {
        "results": tuple(AttributionResult.from_dict(r) for r in data["results"]),
        "labels": tuple(data["labels"]),
        "title": data["title"],
        "truth": truth,
        "paths": paths,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(row) for row in frame.to_dict(orient="records")]
