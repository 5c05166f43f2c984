"""Opaque cursors and list pages (``limit``, ``starting_after``, ``ending_before``).

Lists are ordered by their id, and ids are time-ordered (UUIDv7), so a cursor is
just an encoded id: rows inserted while a client walks the pages appear before
its first page and never shift the ones it has not seen yet.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Annotated, Any

from fastapi import Query

from causality.api.problems import Problem


def encode_cursor(object_id: str) -> str:
    """An opaque cursor for an object id.

    Examples
    --------
    >>> decode_cursor(encode_cursor("key_0190"))
    'key_0190'
    """
    return base64.urlsafe_b64encode(object_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id inside a cursor; 400 ``invalid_parameter`` when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        value = ""
    if not value or "_" not in value or len(value) > 64:
        raise Problem("invalid_parameter", f"not a valid cursor: {cursor!r}", param="cursor")
    return value


@dataclasses.dataclass(frozen=True)
class Page:
    """A validated page request."""

    limit: int
    after: str | None
    before: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1-100")] = 20,
    starting_after: Annotated[
        str | None, Query(max_length=100, description="Cursor: items after this one")
    ] = None,
    ending_before: Annotated[
        str | None, Query(max_length=100, description="Cursor: items before this one")
    ] = None,
) -> Page:
    """The page parameters of a list request (a dependency)."""
    if starting_after is not None and ending_before is not None:
        raise Problem(
            "invalid_parameter",
            "starting_after and ending_before are mutually exclusive; pass one",
            param="ending_before",
        )
    return Page(
        limit=limit,
        after=decode_cursor(starting_after) if starting_after is not None else None,
        before=decode_cursor(ending_before) if ending_before is not None else None,
    )


def list_body(data: list[dict[str, Any]], has_more: bool, last_id: str | None) -> dict[str, Any]:
    """The list envelope: ``{object, data, has_more, next_cursor}``."""
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "next_cursor": encode_cursor(last_id) if has_more and last_id else None,
    }
