"""``/v1/reports`` and ``/v1/report-schedules``: report jobs, downloads, schedules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from starlette.responses import Response

from causality.api.auth import (
    Principal,
    ReportsManager,
    ReportsReader,
    ReportsWriter,
    ServicesDep,
)
from causality.api.contracts import (
    DeletedOut,
    ListOut,
    RunOut,
    ScheduleOut,
    json_response_doc,
    problem_responses,
)
from causality.api.idempotency import idempotent
from causality.api.jobs import queue
from causality.api.pagination import Page, list_body, page_params
from causality.api.problems import Problem
from causality.api.reports import FORMATS, report_json, report_payload
from causality.api.responses import json_response
from causality.api.schedules import create_schedule, schedule_json
from causality.api.services import Services
from causality.api.storage.tables import report_schedules

router = APIRouter(tags=["reports"])
ReportId = Annotated[str, Path(max_length=40)]


class ReportCreate(BaseModel):
    """``POST /v1/reports``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["attribution_summary", "channel_incrementality", "journeys_sample"] = (
        "attribution_summary"
    )
    format: Literal["csv", "json", "html"] = "html"
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The query parameters of GET /v1/attribution (model, start, end, ...); "
        "model parameters under 'params'",
    )


class ScheduleCreate(BaseModel):
    """``POST /v1/report-schedules``."""

    model_config = ConfigDict(extra="forbid")

    report: ReportCreate
    every: Literal["daily", "weekly"]
    at: str = Field(default="06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = Field(default="UTC", max_length=64)


@router.post(
    "/reports",
    status_code=202,
    summary="Queue a report (CSV, JSON or self-contained HTML)",
    responses={
        202: json_response_doc(RunOut, "The queued report"),
        **problem_responses(400, 401, 403, 422, 429),
    },
)
async def post_report(
    request: Request, services: ServicesDep, principal: ReportsWriter, body: ReportCreate
) -> Response:
    """Validate the report's parameters now; a job worker renders it."""
    return await idempotent(
        request, services, principal.mode, lambda: _queue_report(request, services, principal, body)
    )


def _queue_report(
    request: Request, services: Services, principal: Principal, body: ReportCreate
) -> Response:
    payload = report_payload(body.model_dump(), services.settings)
    with services.db.write() as conn:
        job_id = queue.enqueue(
            conn, mode=principal.mode, kind="report", payload=payload, now_us=services.now_us()
        )
        job = queue.get_job(conn, job_id, principal.mode, "report")
    assert job is not None
    return json_response(
        request, report_json(job), status=202, headers={"Location": f"/v1/reports/{job_id}"}
    )


@router.get(
    "/reports",
    summary="Reports, newest first",
    responses={
        200: json_response_doc(ListOut, "A page of reports"),
        **problem_responses(400, 401, 403, 429),
    },
)
def list_reports(
    request: Request,
    services: ServicesDep,
    principal: ReportsReader,
    page: Annotated[Page, Depends(page_params)],
) -> Response:
    """Reports of the caller's mode, scheduled ones included."""
    with services.db.read() as conn:
        found, has_more = queue.list_jobs(
            conn, principal.mode, "report", limit=page.limit, after=page.after, before=page.before
        )
    data = [report_json(job) for job in found]
    return json_response(request, list_body(data, has_more, found[-1].id if found else None))


@router.get(
    "/reports/{report_id}",
    summary="One report",
    responses={
        200: json_response_doc(RunOut, "The report"),
        **problem_responses(401, 403, 404, 429),
    },
)
def get_report(
    request: Request, services: ServicesDep, principal: ReportsReader, report_id: ReportId
) -> Response:
    """The report ``report_id`` of the caller's mode."""
    with services.db.read() as conn:
        job = queue.get_job(conn, report_id, principal.mode, "report")
    if job is None:
        raise Problem("not_found", f"no report {report_id!r} in {principal.mode} mode")
    return json_response(request, report_json(job))


@router.get(
    "/reports/{report_id}/download",
    summary="The report file",
    responses={
        200: {
            "description": "The file",
            "content": {media: {"schema": {"type": "string"}} for media in FORMATS.values()},
        },
        **problem_responses(401, 403, 404, 409, 429),
    },
)
def download_report(
    request: Request, services: ServicesDep, principal: ReportsReader, report_id: ReportId
) -> Response:
    """The rendered file of a finished report (409 while it is not ready)."""
    with services.db.read() as conn:
        job = queue.get_job(conn, report_id, principal.mode, "report")
        content = queue.get_result(conn, report_id) if job and job.status == "succeeded" else None
    if job is None:
        raise Problem("not_found", f"no report {report_id!r} in {principal.mode} mode")
    if content is None:
        raise Problem(
            "report_not_ready",
            f"report {report_id} is {job.status}; download it once it has succeeded",
            headers={"Retry-After": "2"} if job.status in ("queued", "running") else None,
        )
    fmt = job.payload["format"]
    return Response(
        content,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{report_id}.{fmt}"'},
    )


@router.post(
    "/report-schedules",
    status_code=201,
    summary="Create a daily or weekly report schedule",
    responses={
        201: json_response_doc(ScheduleOut, "The schedule"),
        **problem_responses(400, 401, 403, 422, 429),
    },
)
async def post_schedule(
    request: Request, services: ServicesDep, principal: ReportsWriter, body: ScheduleCreate
) -> Response:
    """Each run creates a report visible in ``GET /v1/reports``."""

    def handler() -> Response:
        report_payload(body.report.model_dump(), services.settings)  # fail now, not at 06:00
        with services.db.write() as conn:
            schedule = create_schedule(
                conn,
                mode=principal.mode,
                spec={"report": body.report.model_dump()},
                every=body.every,
                at=body.at,
                timezone=body.timezone,
                now_us=services.now_us(),
            )
        return json_response(request, schedule, status=201)

    return await idempotent(request, services, principal.mode, handler)


@router.get(
    "/report-schedules",
    summary="Report schedules",
    responses={
        200: json_response_doc(ListOut, "The schedules"),
        **problem_responses(401, 403, 429),
    },
)
def list_schedules(request: Request, services: ServicesDep, principal: ReportsReader) -> Response:
    """Every schedule of the caller's mode."""
    with services.db.read() as conn:
        rows = conn.execute(
            select(report_schedules)
            .where(report_schedules.c.mode == principal.mode)
            .order_by(report_schedules.c.id)
        ).all()
    data = [schedule_json(r) for r in rows]
    return json_response(
        request, {"object": "list", "data": data, "has_more": False, "next_cursor": None}
    )


@router.delete(
    "/report-schedules/{schedule_id}",
    summary="Delete a schedule",
    responses={
        200: json_response_doc(DeletedOut, "Deleted"),
        **problem_responses(401, 403, 404, 429),
    },
)
def delete_schedule(
    request: Request,
    services: ServicesDep,
    principal: ReportsManager,
    schedule_id: ReportId,
) -> Response:
    """Stop a schedule; reports it made stay."""
    with services.db.write() as conn:
        deleted = conn.execute(
            delete(report_schedules).where(
                report_schedules.c.id == schedule_id, report_schedules.c.mode == principal.mode
            )
        ).rowcount
    if not deleted:
        raise Problem("not_found", f"no schedule {schedule_id!r} in {principal.mode} mode")
    return json_response(
        request, {"object": "report_schedule_deletion", "id": schedule_id, "deleted": deleted}
    )
