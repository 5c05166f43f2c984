"""``Idempotency-Key`` on every POST (Stripe's rules, R-D-3).

The scope of a key is (mode, method, path). The first request with a key claims
it (``in_progress``); its response is saved when processing ends, and replayed
for 24 h to a retry with a byte-identical body (``Idempotent-Replayed: true``).
A different body gets 422, a retry while the first still runs gets 409.
Responses that did no processing (400, 401, 413, 415, 429) and server errors are
not saved: the claim is dropped, so the client may retry with the same key. A
claim left behind by a crashed process is taken over after ``STALE_CLAIM_US``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from causality.api.problems import Problem
from causality.api.responses import problem_response, request_id
from causality.api.services import Services
from causality.api.storage.tables import idempotency_keys

MAX_KEY_LENGTH = 255
STALE_CLAIM_US = 120 * 1_000_000
UNSAVED_STATUSES = frozenset({400, 401, 413, 415, 429})
SAVED_HEADERS = ("content-type", "location", "retry-after")


async def idempotent(
    request: Request, services: Services, mode: str, handler: Callable[[], Response]
) -> Response:
    """Read the body, then run the blocking ``handler`` in the thread pool, idempotently."""
    body = await request.body()
    return await run_in_threadpool(run_idempotent, request, services, mode, body, handler)


def run_idempotent(
    request: Request,
    services: Services,
    mode: str,
    body: bytes,
    handler: Callable[[], Response],
) -> Response:
    """Run ``handler`` under the request's ``Idempotency-Key``, if it has one.

    ``handler`` returns a response; a `Problem` it raises is turned into one (and
    saved like any other 4xx).
    """
    key = request.headers.get("idempotency-key")
    if key is None:
        return _call(request, handler)
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Problem(
            "invalid_parameter",
            f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters (a UUIDv4 works)",
            param="Idempotency-Key",
        )
    return run_idempotent_digest(request, services, mode, hashlib.sha256(body).hexdigest(), handler)


def run_idempotent_digest(
    request: Request,
    services: Services,
    mode: str,
    digest: str,
    handler: Callable[[], Response],
) -> Response:
    """`run_idempotent` for a body already hashed (streamed uploads)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return _call(request, handler)
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Problem(
            "invalid_parameter",
            f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters (a UUIDv4 works)",
            param="Idempotency-Key",
        )
    ident = {"mode": mode, "method": request.method, "path": request.url.path, "key": key}
    replay = _claim(services, ident, digest)
    if replay is not None:
        return replay
    try:
        response = _call(request, handler)
    except BaseException:
        _release(services, ident)
        raise
    if response.status_code in UNSAVED_STATUSES or response.status_code >= 500:
        _release(services, ident)
    else:
        _save(services, ident, response)
    return response


def _call(request: Request, handler: Callable[[], Response]) -> Response:
    try:
        return handler()
    except Problem as problem:
        if problem.status >= 500:
            raise
        return problem_response(problem, instance=request.url.path, request_id=request_id(request))


def _where(ident: dict[str, str]):
    c = idempotency_keys.c
    return (
        (c.mode == ident["mode"])
        & (c.method == ident["method"])
        & (c.path == ident["path"])
        & (c.key == ident["key"])
    )


def _claim(services: Services, ident: dict[str, str], digest: str) -> Response | None:
    now = services.now_us()
    ttl = int(services.settings.idempotency_ttl.total_seconds() * 1_000_000)

    def claim(conn: Connection) -> Response | None:
        row = conn.execute(select(idempotency_keys).where(_where(ident))).first()
        if row is not None and now - row.created_at > ttl:
            conn.execute(delete(idempotency_keys).where(_where(ident)))
            row = None
        if row is None:
            conn.execute(
                idempotency_keys.insert().values(
                    **ident,
                    request_hash=digest,
                    state="in_progress",
                    created_at=now,
                    updated_at=now,
                )
            )
            return None
        if row.request_hash != digest:
            raise Problem(
                "idempotency_key_mismatch",
                "this Idempotency-Key was used with a different request body; use a new key "
                "for a new request",
                param="Idempotency-Key",
            )
        if row.state == "in_progress":
            if now - row.updated_at <= STALE_CLAIM_US:
                raise Problem(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being processed; retry "
                    "after it finishes",
                    param="Idempotency-Key",
                    headers={"Retry-After": "1"},
                )
            conn.execute(update(idempotency_keys).where(_where(ident)).values(updated_at=now))
            return None
        headers = json.loads(row.headers or "{}")
        headers["Idempotent-Replayed"] = "true"
        return Response(row.body or b"", status_code=row.status_code, headers=headers)

    try:
        # Through the group writer: the claim shares its commit with concurrent writes.
        return services.db.writer.run(claim)
    except IntegrityError:
        # A concurrent first request claimed the key between our read and insert.
        raise Problem(
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is being processed; retry after it finishes",
            param="Idempotency-Key",
            headers={"Retry-After": "1"},
        ) from None


def _save(services: Services, ident: dict[str, str], response: Response) -> None:
    headers = {k: v for k, v in response.headers.items() if k.lower() in SAVED_HEADERS}
    save = (
        update(idempotency_keys)
        .where(_where(ident))
        .values(
            state="done",
            status_code=response.status_code,
            body=bytes(response.body),
            headers=json.dumps(headers),
            updated_at=services.now_us(),
        )
    )
    services.db.writer.run(lambda conn: conn.execute(save))


def _release(services: Services, ident: dict[str, str]) -> None:
    release = delete(idempotency_keys).where(_where(ident))
    services.db.writer.run(lambda conn: conn.execute(release))
