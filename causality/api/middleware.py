"""The outermost ASGI layer: request ids, body limits, gzip, rate headers, access logs.

It runs before routing, so oversized, wrongly typed or unauthenticated floods are
answered without touching the application: bodies are read once, decompressed
with a hard output limit (a zip bomb stops at the limit, R-G-4), and replayed to
the app.
"""

from __future__ import annotations

import json
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders

from causality.api.ids import uuid7
from causality.api.keyformat import parse_key
from causality.api.problems import Problem
from causality.api.ratelimit import RateLimiter
from causality.api.responses import problem_response
from causality.api.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths that stream their own (large) bodies, and paths exempt from every limit.
STREAMED_PATHS = frozenset({"/v1/imports"})
UNLIMITED_PATHS = frozenset({"/v1/health"})

access_log = logging.getLogger("causality.api.access")


def is_json_media_type(value: str | None) -> bool:
    """Whether a Content-Type names JSON (``application/json`` or ``+json``).

    Examples
    --------
    >>> is_json_media_type("application/json; charset=utf-8"), is_json_media_type("text/plain")
    (True, False)
    """
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def read_limited_body(receive: Receive, headers: Headers, limit: int) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip``, at most ``limit`` bytes.

    Raises `Problem` 413 as soon as the (decompressed) body passes ``limit``, 415 for
    an encoding other than gzip, 400 for a corrupt gzip stream.
    """
    encoding = (headers.get("content-encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise Problem(
            "unsupported_media_type",
            f"Content-Encoding {encoding!r} is not supported; send identity or gzip",
        )
    too_large = Problem(
        "payload_too_large",
        f"the request body is over {limit:,} bytes (after decompression); split it",
    )
    declared = headers.get("content-length")
    if declared and declared.isdigit() and encoding == "identity" and int(declared) > limit:
        raise too_large
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    chunks: list[bytes] = []
    size = raw_size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Problem("invalid_json", "the client disconnected before sending the body")
        chunk = message.get("body", b"")
        raw_size += len(chunk)
        if raw_size > limit:
            raise too_large
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error as exc:
                raise Problem("invalid_json", f"the body is not valid gzip: {exc}") from None
            if inflater.unconsumed_tail:
                raise too_large
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if inflater is not None and raw_size and not inflater.eof:
        raise Problem("invalid_json", "the gzip body is truncated")
    return b"".join(chunks)


class ApiMiddleware:
    """Request ids, body limits and rate-limit headers for every request; one log line each."""

    def __init__(self, app: Any, *, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        given = headers.get("x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else str(uuid7())
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status = [500]
        path = scope["path"]
        client = scope.get("client")
        ip = client[0] if client else "unknown"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                state["response_started"] = True
                out = MutableHeaders(scope=message)
                out["X-Request-Id"] = rid
                rate = state.get("rate_headers")
                if rate is None:
                    rate = self.limiter.peek(self.settings.ip_policy, ip).headers()
                for name, value in rate.items():
                    if name not in out:
                        out[name] = value
                for name, value in state.get("extra_headers", {}).items():
                    out[name] = value
            await send(message)

        try:
            problem = None
            if path not in UNLIMITED_PATHS and parse_key(bearer_token(headers) or "") is None:
                # No usable key: limited per client IP before any key lookup (R-L-4).
                decision = self.limiter.hit(self.settings.ip_policy, ip)
                state["rate_headers"] = decision.headers()
                if not decision.allowed:
                    problem = Problem(
                        "rate_limited",
                        f"too many unauthenticated requests from this address; at most "
                        f"{self.settings.ip_policy.quota} per {self.settings.ip_policy.window} s",
                        headers={"Retry-After": decision.headers()["Retry-After"]},
                    )
            if problem is None and scope["method"] in _BODY_METHODS and path not in STREAMED_PATHS:
                try:
                    body = await read_limited_body(receive, headers, self.settings.max_body_bytes)
                except Problem as exc:
                    problem = exc
                else:
                    if body and not is_json_media_type(headers.get("content-type")):
                        problem = Problem(
                            "unsupported_media_type",
                            f"Content-Type {headers.get('content-type')!r} is not JSON; send "
                            "application/json",
                        )
                    receive = _replay(body, receive)
            if problem is not None:
                response = problem_response(problem, instance=path, request_id=rid)
                await response(scope, receive, send_with_headers)
                return
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                # Answer here rather than in Starlette's outermost error middleware, so the
                # 500 carries the request id and rate headers like every other answer.
                access_log.getChild("errors").exception("unhandled error in request %s", rid)
                if state.get("response_started"):
                    raise
                problem = Problem(
                    "internal_error", "an internal error occurred; quote the request_id"
                )
                response = problem_response(problem, instance=path, request_id=rid)
                await response(scope, receive, send_with_headers)
        finally:
            if self.settings.log_requests:
                access_log.info(
                    json.dumps(
                        {
                            "request_id": rid,
                            "method": scope["method"],
                            "route": route_template(scope),
                            "status": status[0],
                            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                            "key_prefix": state.get("key_prefix"),
                        }
                    )
                )


def route_template(scope: Scope) -> str:
    """The request path with path parameters put back as ``{name}`` (log-friendly).

    Examples
    --------
    >>> route_template({"path": "/v1/keys/key_1/rotate", "path_params": {"key_id": "key_1"}})
    '/v1/keys/{key_id}/rotate'
    """
    path = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        head, sep, tail = path.rpartition(f"/{value}")
        if sep:
            path = f"{head}/{{{name}}}{tail}"
    return path


def _replay(body: bytes, original: Receive) -> Receive:
    """A receive channel that yields the buffered body, then waits on the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()  # blocks until the client disconnects
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
