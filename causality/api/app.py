"""`create_app`: the FastAPI application factory (no global state)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from causality._version import __version__
from causality.api.middleware import ApiMiddleware
from causality.api.problems import Problem, codes_markdown
from causality.api.responses import problem_response, request_id
from causality.api.services import Services
from causality.api.settings import Settings
from causality.api.validation import escape_pointer

log = logging.getLogger("causality.api")

DESCRIPTION = """Events in, attribution and reports out.

Authenticate with `Authorization: Bearer <key>` (keys look like `cz_live_...` or
`cz_test_...`; create the first with `causality keys create`). Test keys read and write
only test data. Errors are RFC 9457 `application/problem+json` with a stable `code`.

"""


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    settings : Settings, optional
        Configuration; `Settings.from_env` when omitted.
    migrate : bool, default True
        Apply the database migrations before serving.

    Returns
    -------
    FastAPI
        Its ``state.services`` holds the database, rate limiter and thread pool;
        they are released at shutdown (the ASGI lifespan).
    """
    from causality.api import openapi
    from causality.api.routers import attribution, data, events, health, imports, keys, reports

    settings = settings or Settings.from_env()
    services = Services(settings, migrate=migrate)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from causality.api.jobs.runner import start_background

        start_background(services)
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="causality API",
        version=__version__,
        description=DESCRIPTION + codes_markdown(),
        openapi_url="/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    for module in (health, keys, events, data, attribution, reports, imports):
        app.include_router(module.router, prefix="/v1")
    _add_exception_handlers(app)
    openapi.install(app)
    app.add_middleware(ApiMiddleware, settings=settings, limiter=services.limiter)
    return app


def _problem(request: Request, problem: Problem) -> Response:
    return problem_response(problem, instance=request.url.path, request_id=request_id(request))


def _add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return _problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return _problem(request, validation_problem(exc.errors()))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            problem = Problem(
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}",
                headers=dict(exc.headers or {}),
            )
        elif exc.status_code == 404:
            problem = Problem("not_found", f"no resource at {request.url.path}")
        else:
            problem = Problem("invalid_parameter", str(exc.detail), status=exc.status_code)
        return _problem(request, problem)

    @app.exception_handler(OperationalError)
    async def on_storage(request: Request, exc: DBAPIError) -> Response:
        log.error("storage unavailable: %s", exc.__class__.__name__)
        return _problem(
            request,
            Problem(
                "storage_unavailable",
                "the database is unavailable or busy; retry shortly",
                headers={"Retry-After": "1"},
            ),
        )

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in request %s", request_id(request))
        return _problem(
            request,
            Problem("internal_error", "an internal error occurred; quote the request_id"),
        )


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    """The problem for FastAPI's request validation errors.

    Unparseable JSON is 400 ``invalid_json``; a bad query, path or header value is
    400 ``invalid_parameter``; a body that parses but breaks the schema is 422.
    """
    if any(e.get("type") == "json_invalid" for e in errors):
        return Problem("invalid_json", "the body is not valid JSON")
    items = []
    in_body = False
    for err in errors:
        where, *path = err.get("loc", ("body",))
        in_body = in_body or where == "body"
        pointer = "".join("/" + escape_pointer(p) for p in path)
        if where != "body":
            pointer = str(path[0]) if path else str(where)
        code = "missing_field" if err.get("type") == "missing" else "invalid_value"
        items.append({"pointer": pointer or "/", "code": code, "detail": str(err.get("msg"))})
    first = items[0] if items else {"pointer": "/", "detail": "invalid request"}
    if in_body:
        return Problem(
            "validation_error",
            f"{first['pointer']}: {first['detail']}",
            param=first["pointer"],
            errors=items,
        )
    return Problem(
        "invalid_parameter",
        f"parameter {first['pointer']!r}: {first['detail']}",
        param=first["pointer"],
        errors=items,
    )
