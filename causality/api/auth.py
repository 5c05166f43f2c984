"""Authentication and authorisation: bearer keys, scopes, per-key rate limits.

A dependency built by `require` runs, in order: no key in the URL; a well-formed
``Authorization: Bearer`` key with a valid checksum (no database access before
this point); lookup by hash; revoked or expired; the per-key rate limit; the
scope. It returns the caller's `Principal`.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from causality.api.keyformat import hash_key, parse_key
from causality.api.keystore import KeyRecord, find_key, mark_used
from causality.api.middleware import bearer_token
from causality.api.problems import Problem
from causality.api.services import Services

_QUERY_KEY_NAMES = frozenset({"api_key", "apikey", "key", "access_token", "token"})
_LAST_USED_EVERY_US = 60 * 1_000_000  # write last_used_at at most once a minute per key


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller: its key record and mode."""

    key: KeyRecord

    @property
    def mode(self) -> str:
        """``live`` or ``test``: the partition every query of this request reads and writes."""
        return self.key.mode


def services_of(request: Request) -> Services:
    """The `Services` of the app serving ``request``."""
    return request.app.state.services


async def get_services(request: Request) -> Services:
    """The app's `Services` (a dependency; async, so it runs without a thread hop)."""
    return services_of(request)


def _unauthorized(detail: str, code: str = "invalid_api_key") -> Problem:
    return Problem(code, detail, headers={"WWW-Authenticate": 'Bearer realm="causality"'})


async def authenticate(request: Request, services: Services, *, jobs: bool = False) -> Principal:
    """Check the request's key and count it against the key's rate limit.

    A key used in the last `Settings.key_cache_s` seconds is checked from memory
    (`KeyCache`), on the event loop; the database is read, in the thread pool, only
    for other keys.
    """
    if _QUERY_KEY_NAMES & set(request.query_params):
        raise _unauthorized(
            "API keys in the URL are rejected (they leak into logs); send "
            "'Authorization: Bearer <key>'"
        )
    token = bearer_token(request.headers)
    if token is None:
        raise _unauthorized("missing 'Authorization: Bearer <key>' header")
    if parse_key(token) is None:
        raise _unauthorized("malformed API key or bad checksum; keys look like cz_live_...")
    record = services.keys.get(hash_key(token))
    if record is None:
        record = await run_in_threadpool(_read_key, services, token)
    settings = services.settings
    now = services.now_us()
    if record is None:
        client = request.client.host if request.client else "unknown"
        services.limiter.hit(settings.ip_policy, client)  # guessing keys costs IP quota
        raise _unauthorized("unknown API key")
    request.state.key_prefix = record.prefix
    if record.revoked_at is not None:
        raise _unauthorized("this API key was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise _unauthorized("this API key has expired; use its replacement", "api_key_expired")
    policy = settings.jobs_policy if jobs else settings.policy_for(record.mode)
    decision = services.limiter.hit(policy, record.id)
    request.state.rate_headers = decision.headers()
    if not decision.allowed:
        raise Problem(
            "rate_limited",
            f"rate limit of {policy.quota} requests per {policy.window} s for this key reached; "
            f"retry after {decision.reset_s} s",
            headers={"Retry-After": decision.headers()["Retry-After"]},
        )
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_EVERY_US:
        await run_in_threadpool(_mark_used, services, record, now)
    age = record.age_days(now)
    if age >= settings.key_rotation_days:
        request.state.extra_headers = {"Causality-Key-Age-Days": str(age)}
        request.state.key_warning = {
            "code": "api_key_old",
            "detail": f"api key older than {settings.key_rotation_days} days; rotate",
        }
    return Principal(record)


def _read_key(services: Services, token: str) -> KeyRecord | None:
    ticket = services.keys.ticket()
    with services.db.read() as conn:
        record = find_key(conn, token)
    if record is not None:
        services.keys.put(record, ticket)
    return record


def _mark_used(services: Services, record: KeyRecord, now: int) -> None:
    ticket = services.keys.ticket()
    with services.db.write() as conn:
        mark_used(conn, record.id, now)
    services.keys.put(dataclasses.replace(record, last_used_at=now), ticket)


def require(scope: str, *, jobs: bool = False) -> Any:
    """A dependency that authenticates the request and demands ``scope``.

    ``jobs`` selects the job policy (``POST /v1/reports`` and ``/v1/imports``).
    """

    async def dependency(request: Request) -> Principal:
        services = services_of(request)
        principal = await authenticate(request, services, jobs=jobs)
        if scope not in principal.key.scopes:
            raise Problem(
                "insufficient_scope",
                f"this API key lacks the scope {scope!r}; create a key with it "
                f"(its scopes: {', '.join(principal.key.scopes)})",
                extra={"required_scope": scope},
            )
        return principal

    return Depends(dependency)


EventsWriter = Annotated[Principal, require("events:write")]
AttributionReader = Annotated[Principal, require("attribution:read")]
ReportsReader = Annotated[Principal, require("reports:read")]
ReportsWriter = Annotated[Principal, require("reports:write", jobs=True)]
ReportsManager = Annotated[Principal, require("reports:write")]
ImportsWriter = Annotated[Principal, require("events:write", jobs=True)]
KeysManager = Annotated[Principal, require("keys:manage")]
ServicesDep = Annotated[Services, Depends(get_services)]
