"""JSON and problem+json responses, with the request's id and key-age warnings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from causality.api.problems import PROBLEM_MEDIA_TYPE, Problem, dumps

JSON_MEDIA_TYPE = "application/json"


def request_id(request: Request) -> str:
    """The id the middleware gave this request."""
    return getattr(request.state, "request_id", "") or ""


def json_response(
    request: Request,
    body: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON response; an object body gets the request's warnings (e.g. an old key)."""
    warning = getattr(request.state, "key_warning", None)
    if warning is not None and isinstance(body, dict):
        body = {**body, "warnings": [*body.get("warnings", []), warning]}
    return Response(dumps(body), status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


def problem_response(problem: Problem, *, instance: str, request_id: str) -> Response:
    """The problem+json response of ``problem``."""
    headers = dict(problem.headers)
    if problem.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="causality"')
    return Response(
        dumps(problem.body(instance=instance, request_id=request_id)),
        status_code=problem.status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )
