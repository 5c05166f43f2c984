"""Report jobs: validate a report request, and render one in a job worker.

The content comes from the library: ``causality.report`` over results fitted on
the stored events (``attribution_summary``: the chosen model next to last click;
``channel_incrementality``: the incrementality model), or the top paths of the
journeys (``journeys_sample``). JSON ``attribution_summary`` reports have the schema
of ``GET /v1/attribution``; CSV cells are protected against formula injection and
HTML is one self-contained, escaped file.
"""

from __future__ import annotations

import html
import json
from typing import Any

from causality.api.attribution_compute import compute, event_frame
from causality.api.attribution_query import AttributionQuery, parse_query
from causality.api.jobs.queue import Job, JobOutput
from causality.api.problems import Problem
from causality.api.settings import Settings

REPORT_TYPES = ("attribution_summary", "channel_incrementality", "journeys_sample")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}
SAMPLE_PATHS = 50


def report_payload(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Check a report request (``{type, format, params}``); returns the job payload."""
    kind = spec.get("type", "attribution_summary")
    fmt = spec.get("format", "html")
    if kind not in REPORT_TYPES:
        raise Problem(
            "validation_error",
            f"type must be one of {', '.join(REPORT_TYPES)}",
            param="/type",
            errors=[{"pointer": "/type", "code": "invalid_value", "detail": f"got {kind!r}"}],
        )
    if fmt not in FORMATS:
        raise Problem(
            "validation_error",
            f"format must be one of {', '.join(FORMATS)}",
            param="/format",
            errors=[{"pointer": "/format", "code": "invalid_value", "detail": f"got {fmt!r}"}],
        )
    params = dict(spec.get("params") or {})
    if kind == "channel_incrementality":
        params.setdefault("model", "incrementality")
    items = []
    for name, value in params.items():
        if name == "params" and isinstance(value, dict):  # nested model parameters
            items += [(f"param.{k}", _text(v)) for k, v in value.items()]
        else:
            items.append((str(name), _text(value)))
    query = parse_query(items, settings)
    return {"type": kind, "format": fmt, "query": query.payload(), "spec": spec}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def run_report_job(services: Any, job: Job, owner: str) -> JobOutput:
    """Job handler: render the report described by the job's payload."""
    payload = job.payload
    if payload.get("query") is None:
        raise ValueError(f"the scheduled report is invalid: {payload.get('error')}")
    query = AttributionQuery.from_payload(payload["query"])
    fmt = payload["format"]
    if payload["type"] != "journeys_sample" and fmt == "json":
        # The schema of GET /v1/attribution, as R-R-3 asks.
        return JobOutput(
            compute(services.db, job.mode, query, services.settings, services.columns).body,
            FORMATS[fmt],
        )
    with services.db.read() as conn:
        frame = event_frame(conn, job.mode, query, services.columns)
    journeys = _journeys(frame, query)
    if payload["type"] == "journeys_sample":
        return JobOutput(_paths_report(journeys, fmt), FORMATS[fmt])
    from causality import attribute, report

    models = [query.model] + (["last_click"] if query.model != "last_click" else [])
    params = {k: v for k, v in query.params.items() if k in ("ci_level", "seed")}
    results = [
        attribute(journeys, name, **(query.params if name == query.model else params))
        for name in models
    ]
    title = f"Attribution report: {query.conversion}, {len(journeys):,} journeys"
    rendered = report(results, journeys=journeys, title=title, progress=False)
    if fmt == "csv":
        from causality.reports.tabular import csv_text

        return JobOutput(csv_text(rendered.channel_table()).encode(), FORMATS[fmt])
    return JobOutput(rendered.to_html().encode(), FORMATS[fmt])


def _journeys(frame: Any, query: AttributionQuery) -> Any:
    from causality import Journeys
    from causality.errors import JourneyValidationError

    if frame.empty or not (frame["event_type"] == "conversion").any():
        raise JourneyValidationError(
            f"no {query.conversion!r} conversion between the report's start and end; widen "
            "the window or send events first"
        )
    return Journeys.from_events(frame, lookback=f"{query.lookback_days}D")


def _paths_report(journeys: Any, fmt: str) -> bytes:
    table = journeys.paths().sort_values(["conversions", "path"], ascending=[False, True])
    table = table.head(SAMPLE_PATHS).reset_index(drop=True)
    if fmt == "csv":
        from causality.reports.tabular import csv_text

        return csv_text(table).encode()
    if fmt == "json":
        rows = json.loads(table.to_json(orient="records"))
        return json.dumps({"object": "journeys_sample", "rows": rows}).encode()
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Journeys sample</title></head><body><h1>Top converting paths</h1>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
    return page.encode()


def report_json(job: Job) -> dict[str, Any]:
    """The API form of a report job."""
    return {
        "object": "report",
        "id": job.id,
        "type": job.payload["type"],
        "format": job.payload["format"],
        "status": job.status,
        **job.timestamps(),
        "error": job.error,
        "params": job.payload.get("spec", {}).get("params", {}),
        "schedule_id": job.schedule_id,
        "download_url": f"/v1/reports/{job.id}/download" if job.status == "succeeded" else None,
    }
