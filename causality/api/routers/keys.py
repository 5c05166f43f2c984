"""``/v1/keys``: create, list, revoke and rotate API keys (scope ``keys:manage``).

Keys live in a mode like every other object: a key manages the keys of its own
mode only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from causality.api.auth import KeysManager, Principal, ServicesDep
from causality.api.contracts import ApiKeyOut, ListOut, json_response_doc, problem_responses
from causality.api.idempotency import idempotent
from causality.api.keystore import create_key, get_key, list_keys, revoke_key, rotate_key
from causality.api.pagination import Page, list_body, page_params
from causality.api.problems import Problem
from causality.api.responses import json_response
from causality.api.services import Services
from causality.api.timeutil import parse_rfc3339, to_micros

router = APIRouter(tags=["keys"])
MAX_GRACE_S = 7 * 86_400
KeyId = Annotated[str, Path(max_length=40, description="The key's id (key_...)")]
Scope = Literal["events:write", "attribution:read", "reports:read", "reports:write", "keys:manage"]


class KeyCreate(BaseModel):
    """``POST /v1/keys``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    mode: Literal["live", "test"]
    expires_at: str | None = Field(
        default=None, max_length=40, description="RFC 3339 date-time with an offset"
    )


class KeyRotate(BaseModel):
    """``POST /v1/keys/{id}/rotate``."""

    model_config = ConfigDict(extra="forbid")

    old_key_expires_in_seconds: int = Field(default=86_400, ge=0, le=MAX_GRACE_S)


@router.post(
    "/keys",
    status_code=201,
    summary="Create a key; its secret is shown once",
    responses={
        201: json_response_doc(ApiKeyOut, "The new key"),
        **problem_responses(400, 401, 403, 422, 429),
    },
)
async def post_key(
    request: Request, services: ServicesDep, principal: KeysManager, body: KeyCreate
) -> Response:
    """Create a key of the caller's mode."""
    return await idempotent(
        request, services, principal.mode, lambda: _create(request, services, principal, body)
    )


def _create(
    request: Request, services: Services, principal: Principal, body: KeyCreate
) -> Response:
    now = services.now_us()
    expires = None
    if body.expires_at is not None:
        parsed = parse_rfc3339(body.expires_at)
        if parsed is None:
            raise Problem(
                "validation_error",
                "expires_at must be an RFC 3339 date-time with an offset (Z or +hh:mm)",
                param="/expires_at",
                errors=[
                    {"pointer": "/expires_at", "code": "invalid_timestamp", "detail": "RFC 3339"}
                ],
            )
        expires = to_micros(parsed)
        if expires <= now:
            raise Problem(
                "validation_error",
                "expires_at is in the past",
                param="/expires_at",
                errors=[{"pointer": "/expires_at", "code": "invalid_value", "detail": "past"}],
            )
    if body.mode != principal.mode:
        raise Problem(
            "mode_mismatch",
            f"a {principal.mode} key can create {principal.mode} keys only; create "
            f"{body.mode} keys with a {body.mode} key or `causality keys create`",
            param="/mode",
        )
    with services.db.write() as conn:
        record, secret = create_key(
            conn, name=body.name, mode=body.mode, scopes=body.scopes, now_us=now, expires_at=expires
        )
    return json_response(request, {**record.to_json(now), "secret": secret}, status=201)


@router.get(
    "/keys",
    summary="List keys (no secrets)",
    responses={
        200: json_response_doc(ListOut, "A page of keys"),
        **problem_responses(400, 401, 403, 429),
    },
)
def get_keys(
    request: Request,
    services: ServicesDep,
    principal: KeysManager,
    page: Annotated[Page, Depends(page_params)],
) -> Response:
    """Keys of the caller's mode, newest first."""
    with services.db.read() as conn:
        records, has_more = list_keys(
            conn, principal.mode, limit=page.limit, after=page.after, before=page.before
        )
    now = services.now_us()
    data = [r.to_json(now) for r in records]
    return json_response(request, list_body(data, has_more, records[-1].id if records else None))


@router.delete(
    "/keys/{key_id}",
    summary="Revoke a key at once",
    responses={
        200: json_response_doc(ApiKeyOut, "The revoked key"),
        **problem_responses(401, 403, 404, 429),
    },
)
def delete_key(
    request: Request, services: ServicesDep, principal: KeysManager, key_id: KeyId
) -> Response:
    """Revoke ``key_id``; the next request with it gets 401."""
    now = services.now_us()
    with services.db.write() as conn:
        record = get_key(conn, key_id, principal.mode)
        if record is None:
            raise Problem("not_found", f"no key {key_id!r} in {principal.mode} mode")
        record = revoke_key(conn, record, now)
    services.keys.clear()
    return json_response(request, record.to_json(now))


@router.post(
    "/keys/{key_id}/rotate",
    status_code=201,
    summary="Replace a key; the old one keeps working for a grace period",
    responses={
        201: json_response_doc(ApiKeyOut, "The new key"),
        **problem_responses(400, 401, 403, 404, 422, 429),
    },
)
async def post_rotate(
    request: Request,
    services: ServicesDep,
    principal: KeysManager,
    key_id: KeyId,
    body: Annotated[KeyRotate | None, Body()] = None,
) -> Response:
    """A new key with the same name and scopes; the old one expires after the grace period."""
    grace = (body or KeyRotate()).old_key_expires_in_seconds
    return await idempotent(
        request,
        services,
        principal.mode,
        lambda: _rotate(request, services, principal, key_id, grace),
    )


def _rotate(
    request: Request, services: Services, principal: Principal, key_id: str, grace: int
) -> Response:
    now = services.now_us()
    with services.db.write() as conn:
        record = get_key(conn, key_id, principal.mode)
        if record is None:
            raise Problem("not_found", f"no key {key_id!r} in {principal.mode} mode")
        if record.revoked_at is not None:
            raise Problem(
                "validation_error",
                "a revoked key cannot be rotated; create a new key",
                param="/key_id",
            )
        new, secret = rotate_key(conn, record, now_us=now, grace_s=grace)
    services.keys.clear()
    return json_response(
        request, {**new.to_json(now), "secret": secret, "replaces": record.id}, status=201
    )
