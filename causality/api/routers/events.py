"""``/v1/events``: ingest batches (online and offline), read stored events back."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from causality.api.auth import EventsWriter, ServicesDep
from causality.api.contracts import (
    EventBatchResult,
    EventOut,
    ListOut,
    json_response_doc,
    problem_responses,
)
from causality.api.event_store import store_batch
from causality.api.idempotency import idempotent
from causality.api.ingest import Batch, parse_body, prepare_batch
from causality.api.pagination import Page, list_body, page_params
from causality.api.problems import Problem
from causality.api.responses import json_response, request_id
from causality.api.services import Services
from causality.api.storage.tables import events
from causality.api.timeutil import format_micros

router = APIRouter(tags=["events"])
_WRITE_RETRIES = 3

_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventBatch"}}},
    }
}


@router.post(
    "/events",
    summary="Send a batch of events (touches, conversions, identifies)",
    openapi_extra=_BATCH_BODY,
    responses={
        200: json_response_doc(EventBatchResult, "No event was rejected"),
        207: json_response_doc(EventBatchResult, "Some events were rejected, some accepted"),
        **problem_responses(400, 401, 403, 409, 413, 415, 422, 429),
    },
)
async def post_events(
    request: Request,
    services: ServicesDep,
    principal: EventsWriter,
    atomic: Annotated[bool, Query(description="All or nothing: any invalid event → 422")] = False,
    validate_only: Annotated[bool, Query(description="Validate fully, store nothing")] = False,
) -> Response:
    """Validate and store a batch; per-item results in request order."""
    body = await request.body()

    def handler() -> Response:
        return ingest(request, services, principal.mode, body, atomic, validate_only)

    return await idempotent(request, services, principal.mode, handler)


def ingest(
    request: Request, services: Services, mode: str, body: bytes, atomic: bool, validate_only: bool
) -> Response:
    """Parse, validate and store one batch; the answer is sent only after the commit."""
    data = parse_body(body)
    batch = prepare_batch(data, services.settings, services.settings.now(), body_size=len(body))
    if validate_only:
        with services.db.read() as conn:
            store_batch(conn, mode, batch, atomic=atomic, validate_only=True)
        return batch_response(request, batch, atomic=atomic)

    def write(conn: Connection) -> bool:
        return store_batch(conn, mode, batch, atomic=atomic, validate_only=False)

    for attempt in range(_WRITE_RETRIES):
        checkpoint = batch.checkpoint()
        try:
            # Shares a transaction (and its one durable commit) with concurrent batches;
            # returns only after that commit.
            services.db.writer.run(write)
            break
        except IntegrityError:
            # A concurrent request stored one of these ids between our check and insert
            # (PostgreSQL); the retry sees it and reports a duplicate.
            batch.restore(checkpoint)
            if attempt == _WRITE_RETRIES - 1:
                raise
    return batch_response(request, batch, atomic=atomic)


def batch_response(request: Request, batch: Batch, *, atomic: bool) -> Response:
    """200, 207 or 422 with every item's result."""
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "valid": 0}
    for item in batch.items:
        counts[item.status] += 1
    body: dict[str, Any] = {
        "object": "event_batch_result",
        "request_id": request_id(request),
        "received_at": format_micros(batch.received_at),
        "accepted": counts["accepted"] + counts["valid"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": [item.result() for item in batch.items],
        "warnings": batch.warnings,
    }
    if counts["rejected"] == len(batch.items) or (atomic and counts["rejected"]):
        detail = (
            f"all {len(batch.items)} events were rejected; see results[].errors"
            if counts["rejected"] == len(batch.items)
            else f"atomic batch: {counts['rejected']} invalid event(s), nothing was stored"
        )
        raise Problem("batch_rejected", detail, extra=body)
    return json_response(request, body, status=207 if counts["rejected"] else 200)


@router.get(
    "/events/{event_id}",
    summary="One stored event",
    responses={
        200: json_response_doc(EventOut, "The event"),
        **problem_responses(401, 403, 404, 429),
    },
)
def get_event(
    request: Request,
    services: ServicesDep,
    principal: EventsWriter,
    event_id: Annotated[str, Path(max_length=100)],
) -> Response:
    """The event ``event_id`` of the caller's mode."""
    with services.db.read() as conn:
        row = conn.execute(
            select(events).where(events.c.mode == principal.mode, events.c.event_id == event_id)
        ).first()
    if row is None:
        raise Problem("not_found", f"no event {event_id!r} in {principal.mode} mode")
    return json_response(request, event_json(row))


@router.get(
    "/events",
    summary="Events of one user (or anonymous id), oldest first",
    responses={
        200: json_response_doc(ListOut, "A page of events"),
        **problem_responses(400, 401, 403, 429),
    },
)
def list_events(
    request: Request,
    services: ServicesDep,
    principal: EventsWriter,
    page: Annotated[Page, Depends(page_params)],
    user_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    anonymous_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
) -> Response:
    """A page of the events stored for ``user_id`` or ``anonymous_id``."""
    if (user_id is None) == (anonymous_id is None):
        raise Problem(
            "invalid_parameter", "pass exactly one of user_id and anonymous_id", param="user_id"
        )
    column = events.c.user_id if user_id is not None else events.c.anonymous_id
    query = select(events).where(
        events.c.mode == principal.mode, column == (user_id or anonymous_id)
    )
    if page.before is not None:
        query = query.where(events.c.pk < _pk(page.before)).order_by(events.c.pk.desc())
    else:
        if page.after is not None:
            query = query.where(events.c.pk > _pk(page.after))
        query = query.order_by(events.c.pk.asc())
    with services.db.read() as conn:
        rows = conn.execute(query.limit(page.limit + 1)).all()
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.before is not None:
        rows.reverse()
    last = f"ev_{rows[-1].pk}" if rows else None
    return json_response(request, list_body([event_json(r) for r in rows], has_more, last))


def _pk(cursor_id: str) -> int:
    prefix, _, number = cursor_id.partition("_")
    if prefix != "ev" or not number.isdigit():
        raise Problem("invalid_parameter", "not an events cursor", param="starting_after")
    return int(number)


def event_json(row: Any) -> dict[str, Any]:
    """The API form of a stored event row."""
    channel = {
        k: getattr(row, k)
        for k in ("source", "medium", "campaign", "term", "content", "campaign_id", "referrer")
    }
    channel["click_ids"] = {k: getattr(row, k) for k in ("gclid", "fbclid", "msclkid")}
    channel["channel_group"] = row.channel_group
    out: dict[str, Any] = {
        "object": "event",
        "event_id": row.event_id,
        "event_type": row.event_type,
        "name": row.name,
        "timestamp": format_micros(row.ts),
        "original_timestamp": row.original_timestamp,
        "sent_at": format_micros(row.sent_at),
        "received_at": format_micros(row.received_at),
        "user_id": row.user_id,
        "anonymous_id": row.anonymous_id,
        "channel": channel if row.event_type == "touch" or any(channel.values()) else None,
        "rule_set": row.rule_set,
        "conversion": None,
        "properties": json.loads(row.properties) if row.properties else None,
    }
    if row.event_type == "conversion":
        out["conversion"] = {
            "name": row.name,
            "value": None if row.value is None else repr(float(row.value)),
            "currency": row.currency,
            "order_id": row.order_id,
            "offline": bool(row.offline),
            "source_system": row.source_system,
            "match_status": row.match_status,
        }
    return out
