"""``/v1/attribution``: per-channel credit, the model list, and runs to poll."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from causality.api.attribution_query import GROUP_BY, parse_query
from causality.api.attribution_runs import attribution, run_body
from causality.api.auth import AttributionReader, ServicesDep
from causality.api.contracts import (
    AttributionOut,
    ListOut,
    RunOut,
    json_response_doc,
    problem_responses,
)
from causality.api.jobs import queue
from causality.api.pagination import Page, list_body, page_params
from causality.api.problems import Problem
from causality.api.responses import JSON_MEDIA_TYPE, json_response

router = APIRouter(tags=["attribution"])


@router.get(
    "/attribution",
    summary="Credit per channel with intervals (any registered model)",
    description="Model parameters go as `param.<name>=<value>`, checked against the model's "
    "schema (see `/v1/attribution/models`). Results are cached until new data arrives in the "
    "window; a computation that takes over 2 s answers 202 with a run to poll.",
    responses={
        200: json_response_doc(AttributionOut, "The result"),
        202: json_response_doc(RunOut, "Still computing: poll the run in Location"),
        **problem_responses(400, 401, 403, 422, 429),
    },
)
def get_attribution(
    request: Request,
    services: ServicesDep,
    principal: AttributionReader,
    model: Annotated[
        str, Query(max_length=64, description="A name from /v1/attribution/models")
    ] = "markov",
    start: Annotated[
        str | None, Query(max_length=40, description="Date or RFC 3339 date-time")
    ] = None,
    end: Annotated[str | None, Query(max_length=40, description="Exclusive; default: now")] = None,
    timezone: Annotated[str, Query(max_length=64, description="IANA zone for dates")] = "UTC",
    ci_level: Annotated[float, Query(ge=0.5, le=0.99)] = 0.9,
    conversion: Annotated[str, Query(max_length=64)] = "purchase",
    group_by: Annotated[Literal[GROUP_BY], Query()] = "channel_group",  # type: ignore[valid-type]
    lookback_days: Annotated[int, Query(ge=1, le=90)] = 30,
    currency: Annotated[str | None, Query(max_length=3)] = None,
) -> Response:
    """Fit (or fetch) the attribution of the caller's mode."""
    query = parse_query(request.query_params.multi_items(), services.settings)
    outcome = attribution(services, principal.mode, query)
    if outcome.status == 202:
        return Response(
            outcome.body,
            status_code=202,
            media_type=JSON_MEDIA_TYPE,
            headers={"Location": f"/v1/attribution/runs/{outcome.run_id}", "Retry-After": "2"},
        )
    if getattr(request.state, "key_warning", None) is not None:
        return json_response(request, json.loads(outcome.body))
    return Response(outcome.body, media_type=JSON_MEDIA_TYPE)


@router.get(
    "/attribution/models",
    summary="Every registered model with its parameter schema",
    responses={200: json_response_doc(ListOut, "The models"), **problem_responses(401, 403, 429)},
)
def get_models(request: Request, principal: AttributionReader) -> Response:
    """Models from the library's registry (built-ins and installed plug-ins)."""
    from causality.registry import available_models, get_model

    data = []
    for name in available_models():
        cls = get_model(name)
        schema = cls.param_schema() if hasattr(cls, "param_schema") else None
        data.append(
            {
                "object": "model",
                "name": name,
                "kind": cls.kind,
                "description": cls.description,
                "params": schema,
            }
        )
    return json_response(
        request, {"object": "list", "data": data, "has_more": False, "next_cursor": None}
    )


@router.get(
    "/attribution/runs",
    summary="Attribution runs, newest first",
    responses={
        200: json_response_doc(ListOut, "A page of runs"),
        **problem_responses(400, 401, 403, 429),
    },
)
def list_runs(
    request: Request,
    services: ServicesDep,
    principal: AttributionReader,
    page: Annotated[Page, Depends(page_params)],
) -> Response:
    """Runs of the caller's mode (results omitted; fetch a run for its result)."""
    with services.db.read() as conn:
        found, has_more = queue.list_jobs(
            conn,
            principal.mode,
            "attribution",
            limit=page.limit,
            after=page.after,
            before=page.before,
        )
    data = [json.loads(run_body(job, None)) for job in found]
    return json_response(request, list_body(data, has_more, found[-1].id if found else None))


@router.get(
    "/attribution/runs/{run_id}",
    summary="One attribution run, with its result once it succeeded",
    responses={200: json_response_doc(RunOut, "The run"), **problem_responses(401, 403, 404, 429)},
)
def get_run(
    request: Request,
    services: ServicesDep,
    principal: AttributionReader,
    run_id: Annotated[str, Path(max_length=40)],
) -> Response:
    """The run ``run_id`` of the caller's mode."""
    with services.db.read() as conn:
        job = queue.get_job(conn, run_id, principal.mode, "attribution")
        result = queue.get_result(conn, run_id) if job and job.status == "succeeded" else None
    if job is None:
        raise Problem("not_found", f"no attribution run {run_id!r} in {principal.mode} mode")
    return Response(run_body(job, result), media_type=JSON_MEDIA_TYPE)
