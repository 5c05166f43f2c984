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

from causality.api.keyformat import parse_key
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


def get_services(request: Request) -> Services:
    """The app's `Services` (a dependency)."""
    return request.app.state.services


def _unauthorized(detail: str, code: str = "invalid_api_key") -> Problem:
    return Problem(code, detail, headers={"WWW-Authenticate": 'Bearer realm="causality"'})


def authenticate(request: Request, services: Services, *, jobs: bool = False) -> Principal:
    """Check the request's key and count it against the key's rate limit."""
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
    with services.db.read() as conn:
        record = find_key(conn, token)
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
        with services.db.write() as conn:
            mark_used(conn, record.id, now)
    age = record.age_days(now)
    if age >= settings.key_rotation_days:
        request.state.extra_headers = {"Causality-Key-Age-Days": str(age)}
        request.state.key_warning = {
            "code": "api_key_old",
            "detail": f"api key older than {settings.key_rotation_days} days; rotate",
        }
    return Principal(record)


def require(scope: str, *, jobs: bool = False) -> Any:
    """A dependency that authenticates the request and demands ``scope``.

    ``jobs`` selects the job policy (``POST /v1/reports`` and ``/v1/imports``).
    """

    def dependency(request: Request) -> Principal:
        services = get_services(request)
        principal = authenticate(request, services, jobs=jobs)
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
