"""``GET /v1/health``: no key, no rate limit; says whether storage answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from causality._version import __version__
from causality.api.auth import services_of
from causality.api.contracts import HealthOut, json_response_doc
from causality.api.responses import json_response

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service and storage status",
    responses={
        200: json_response_doc(HealthOut, "Storage answers"),
        503: json_response_doc(HealthOut, "Storage is unavailable"),
    },
)
def health(request: Request) -> Response:
    """Answer 200 when the database answers a query, else 503."""
    services = services_of(request)
    try:
        with services.db.read() as conn:
            conn.execute(text("SELECT 1"))
        storage = "ok"
    except SQLAlchemyError:
        storage = "unavailable"
    body = {
        "status": "ok" if storage == "ok" else "unavailable",
        "storage": storage,
        "database": services.db.dialect,
        "version": __version__,
        "event_columns": services.columns.status() if services.columns is not None else None,
    }
    headers = None if storage == "ok" else {"Retry-After": "5"}
    return json_response(request, body, status=200 if storage == "ok" else 503, headers=headers)
