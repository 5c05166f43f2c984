"""Erasure: ``DELETE /v1/test-data`` (the sandbox) and ``DELETE /v1/users/{id}`` (a person)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import delete, or_, select
from starlette.responses import Response

from causality.api.auth import EventsWriter, ServicesDep
from causality.api.contracts import DeletedOut, json_response_doc, problem_responses
from causality.api.event_store import record_change
from causality.api.problems import Problem
from causality.api.responses import json_response
from causality.api.storage.tables import (
    click_ids,
    events,
    idempotency_keys,
    identities,
    jobs,
    report_schedules,
)
from causality.api.storage.versions import begin_event_write

router = APIRouter(tags=["data"])


@router.delete(
    "/test-data",
    summary="Wipe the test partition (test keys only)",
    responses={
        200: json_response_doc(DeletedOut, "What was deleted"),
        **problem_responses(401, 403, 429),
    },
)
def delete_test_data(request: Request, services: ServicesDep, principal: EventsWriter) -> Response:
    """Delete every test-mode event, identity, job and schedule (keys stay)."""
    if principal.mode != "test":
        raise Problem(
            "live_key_forbidden",
            "only test keys may wipe test data; a live key never touches the test partition",
        )
    with services.db.write() as conn:
        begin_event_write(conn, "test", deletion=True)
        deleted = conn.execute(delete(events).where(events.c.mode == "test")).rowcount
        for table in (identities, click_ids, idempotency_keys, jobs, report_schedules):
            conn.execute(delete(table).where(table.c.mode == "test"))
        record_change(conn, "test", services.now_us(), deletion=True)
    return json_response(request, {"object": "test_data_deletion", "deleted": deleted})


@router.delete(
    "/users/{user_id}",
    summary="Erase one user's events and identities in the caller's mode",
    responses={
        200: json_response_doc(DeletedOut, "What was deleted"),
        **problem_responses(401, 403, 429),
    },
)
def delete_user(
    request: Request,
    services: ServicesDep,
    principal: EventsWriter,
    user_id: Annotated[str, Path(min_length=1, max_length=255)],
) -> Response:
    """Erase the user's events, the anonymous ids linked to them, and their click ids."""
    mode = principal.mode
    with services.db.write() as conn:
        begin_event_write(conn, mode, deletion=True)
        anonymous = list(
            conn.scalars(
                select(identities.c.anonymous_id).where(
                    identities.c.mode == mode, identities.c.user_id == user_id
                )
            )
        )
        mine = or_(
            events.c.user_id == user_id,
            events.c.matched_user_id == user_id,
            events.c.anonymous_id.in_(anonymous),
        )
        deleted = conn.execute(delete(events).where(events.c.mode == mode, mine)).rowcount
        conn.execute(
            delete(identities).where(identities.c.mode == mode, identities.c.user_id == user_id)
        )
        conn.execute(
            delete(click_ids).where(
                click_ids.c.mode == mode,
                or_(click_ids.c.user_id == user_id, click_ids.c.anonymous_id.in_(anonymous)),
            )
        )
        record_change(conn, mode, services.now_us(), deletion=True)
    return json_response(
        request,
        {
            "object": "user_deletion",
            "user_id": user_id,
            "deleted": deleted,
            "anonymous_ids": len(anonymous),
        },
    )
