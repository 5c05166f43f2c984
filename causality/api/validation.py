"""Validate one event of a batch: its shape (pydantic), cross-field rules and size.

Every problem is an item error ``{pointer, code, detail}``; the pointer is a
JSON pointer into the request body (``/events/3/user_id``). Rules that need the
server's clock (``timestamp_too_old``) and its database (``duplicate_order_id``)
live in `causality.api.ingest`. The Python client runs this module before sending.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from causality.api.schemas import Event

_EVENT = TypeAdapter(Event)

_PYDANTIC_CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "string_pattern_mismatch": "invalid_format",
    "literal_error": "invalid_value",
    "enum": "invalid_value",
}
_OWN_CODES = frozenset(
    {
        "invalid_timestamp",
        "invalid_currency",
        "invalid_value",
        "invalid_type",
        "properties_too_large",
    }
)
# Pydantic tags errors inside a union with the member's type; they are not body fields.
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def item_error(pointer: str, code: str, detail: str) -> dict[str, str]:
    """One per-item error."""
    return {"pointer": pointer, "code": code, "detail": detail}


def escape_pointer(part: object) -> str:
    """A JSON-pointer reference token (RFC 6901).

    Examples
    --------
    >>> escape_pointer("a/b~c")
    'a~1b~0c'
    """
    return str(part).replace("~", "~0").replace("/", "~1")


def pydantic_errors(exc: ValidationError, base: str) -> list[dict[str, str]]:
    """Item errors of a pydantic `ValidationError`, one per pointer, in order."""
    out: dict[str, dict[str, str]] = {}
    for err in exc.errors(include_url=False):
        parts = [p for p in err["loc"] if not (isinstance(p, str) and _is_tag(p))]
        pointer = base + "".join("/" + escape_pointer(p) for p in parts)
        kind = err["type"]
        if kind in _OWN_CODES:
            code = kind
        elif kind in _PYDANTIC_CODES:
            code = _PYDANTIC_CODES[kind]
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            code = "invalid_type"
        else:
            code = "invalid_value"
        if code == "missing_field":
            detail = "required field is missing"
        elif code == "unknown_field":
            detail = "unknown field; see the event schema in /v1/openapi.json"
        else:
            detail = err["msg"]
        out.setdefault(pointer, item_error(pointer, code, detail))
    return list(out.values())


def _is_tag(part: str) -> bool:
    return part in _UNION_TAGS or "[" in part


def serialized_size(raw: Any) -> int:
    """Bytes of ``raw`` as compact UTF-8 JSON (the 32 KiB event limit)."""
    return len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())


def validate_event(
    raw: Any, index: int, *, max_bytes: int | None = 32 * 1024
) -> tuple[Event | None, list[dict[str, str]]]:
    """Check event ``index`` of a batch; returns the parsed event or its errors.

    ``max_bytes`` bounds the event's size as compact JSON (None: not checked).

    Examples
    --------
    >>> event, errors = validate_event(
    ...     {"event_type": "touch", "timestamp": "2026-11-28T09:59:58Z"}, 3)
    >>> event is None, [(e["pointer"], e["code"]) for e in errors]
    (True, [('/events/3/user_id', 'missing_field'), ('/events/3/channel', 'missing_field')])
    """
    base = f"/events/{index}"
    if not isinstance(raw, dict):
        return None, [item_error(base, "invalid_type", "each event must be a JSON object")]
    if max_bytes is not None and serialized_size(raw) > max_bytes:
        return None, [
            item_error(
                base, "event_too_large", f"the event is over {max_bytes:,} bytes as JSON; trim it"
            )
        ]
    try:
        event = _EVENT.validate_python(raw)
    except ValidationError as exc:
        errors = pydantic_errors(exc, base)
        # Report the rules across fields too, so one answer lists every problem.
        seen = {e["pointer"] for e in errors}
        errors += [e for e in rule_errors(raw, base) if e["pointer"] not in seen]
        return None, errors
    errors = rule_errors(raw, base)
    return (None if errors else event), errors


def click_ids(event: Event) -> dict[str, str]:
    """The click ids an event carries, by kind (``gclid``, ``fbclid``, ``msclkid``)."""
    clicks = event.channel.click_ids if event.channel is not None else None
    if clicks is None:
        return {}
    return {k: v for k, v in clicks.model_dump().items() if v}


def conversion_name(event: Event) -> str | None:
    """``conversion.name``, else the event's ``name``."""
    if event.conversion is not None and event.conversion.name:
        return event.conversion.name
    return event.name


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def rule_errors(raw: dict[str, Any], base: str) -> list[dict[str, str]]:
    """Rules across fields: ids per event, a channel per touch, a name per conversion.

    Reads the raw event (fields of the wrong type count as absent), so these rules are
    reported even when the event's shape has other problems.
    """
    errors = []
    kind = raw.get("event_type")
    channel = raw.get("channel") if isinstance(raw.get("channel"), dict) else {}
    clicks = channel.get("click_ids") if isinstance(channel.get("click_ids"), dict) else {}
    has_click = any(_text(v) for v in clicks.values())
    conversion = raw.get("conversion") if isinstance(raw.get("conversion"), dict) else {}
    offline = conversion.get("offline") is True
    if kind == "identify":
        for field in ("user_id", "anonymous_id"):
            if not _text(raw.get(field)):
                errors.append(
                    item_error(
                        f"{base}/{field}",
                        "missing_field",
                        "identify events link an anonymous_id to a user_id; give both",
                    )
                )
    elif kind in ("touch", "conversion") and not (
        _text(raw.get("user_id")) or _text(raw.get("anonymous_id")) or (offline and has_click)
    ):
        errors.append(
            item_error(
                f"{base}/user_id",
                "missing_field",
                "each event needs user_id or anonymous_id (an offline conversion may carry a "
                "click id in channel.click_ids instead)",
            )
        )
    if kind == "touch":
        named = has_click or any(
            _text(channel.get(k))
            for k in ("source", "medium", "campaign", "referrer", "channel_group")
        )
        if not named:
            errors.append(
                item_error(
                    f"{base}/channel",
                    "missing_field",
                    "touch events need channel with source, medium, campaign, a click id, "
                    "referrer or channel_group",
                )
            )
    if kind == "conversion" and not (_text(conversion.get("name")) or _text(raw.get("name"))):
        errors.append(
            item_error(
                f"{base}/conversion/name",
                "missing_field",
                "conversion events need conversion.name (or name), e.g. 'purchase'",
            )
        )
    return errors
