"""``POST /v1/events`` without HTTP: validate a batch, then store it in one transaction.

`prepare_batch` checks every item (shape, cross-field rules, clock rules,
currency) and turns the valid ones into rows; `causality.api.event_store`
deduplicates and stores them. The batch is screened column-wise first
(`causality.api.screening`); only the events the screen does not pass are checked
one by one, and that path alone writes error lists.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from causality.api.channel_groups import derive_channel_groups
from causality.api.ids import uuid7
from causality.api.problems import Problem
from causality.api.schemas import Event
from causality.api.screening import properties_json, screen_events
from causality.api.settings import Settings
from causality.api.timeutil import parse_rfc3339, to_micros
from causality.api.validation import click_ids as event_click_ids
from causality.api.validation import (
    conversion_name,
    item_error,
    serialized_size,
    validate_event,
)


@dataclasses.dataclass
class Item:
    """One event of a batch on its way through validation and storage."""

    index: int
    event_id: str | None
    status: str = "pending"  # accepted | duplicate | rejected | valid
    errors: list[dict[str, str]] = dataclasses.field(default_factory=list)
    row: dict[str, Any] | None = None
    clicks: dict[str, str] = dataclasses.field(default_factory=dict)
    generated_id: bool = False

    def result(self) -> dict[str, Any]:
        """The item's entry in ``results``."""
        out: dict[str, Any] = {"index": self.index}
        if self.event_id is not None:
            out["event_id"] = self.event_id
        out["status"] = self.status
        if self.errors:
            out["errors"] = self.errors
        return out

    def reject(self, pointer: str, code: str, detail: str) -> None:
        """Mark the item rejected with one more error."""
        self.status = "rejected"
        self.errors.append(item_error(pointer, code, detail))


@dataclasses.dataclass
class Batch:
    """A validated batch: every item, and the warnings to report."""

    items: list[Item]
    warnings: list[dict[str, Any]]
    received_at: int

    @property
    def valid(self) -> list[Item]:
        """Items that passed validation (not yet deduplicated)."""
        return [item for item in self.items if item.status != "rejected"]

    def checkpoint(self) -> list[tuple[str, list[dict[str, str]]]]:
        """Every item's status and errors, to `restore` when a write attempt fails."""
        return [(item.status, list(item.errors)) for item in self.items]

    def restore(self, checkpoint: list[tuple[str, list[dict[str, str]]]]) -> None:
        """Undo what a failed write attempt set (statuses, ``duplicate_order_id``)."""
        for item, (status, errors) in zip(self.items, checkpoint, strict=True):
            item.status, item.errors = status, errors


def parse_body(body: bytes) -> Any:
    """JSON from the request body; NaN and Infinity are refused (400 ``invalid_json``)."""

    def _refuse(token: str) -> Any:
        raise ValueError(f"{token} is not valid JSON")

    try:
        return json.loads(body, parse_constant=_refuse)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem("invalid_json", f"the body is not valid JSON: {exc}") from None


def prepare_batch(
    data: Any, settings: Settings, received: datetime, *, body_size: int | None = None
) -> Batch:
    """Validate a parsed ``POST /v1/events`` body item by item.

    Request-level problems raise `Problem`: a body that is not an object with an
    ``events`` list (422), more than ``max_batch_events`` events (413) or a bad
    ``sent_at`` (422). Item problems go into each item's errors. ``body_size`` (bytes
    of the request) lets small batches skip measuring each event: no event of a body
    under the event limit can be over it.
    """
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise Problem(
            "validation_error",
            "the body must be an object with an 'events' array of 1 to "
            f"{settings.max_batch_events} events",
            param="/events",
            errors=[item_error("/events", "missing_field", "an array of events is required")],
        )
    unknown = sorted(set(data) - {"events", "sent_at", "context"})
    if unknown:
        raise Problem(
            "validation_error",
            f"unknown top-level field(s) {unknown}; allowed: events, sent_at, context",
            param=f"/{unknown[0]}",
            errors=[item_error(f"/{k}", "unknown_field", "unknown field") for k in unknown],
        )
    raw_events = data["events"]
    if len(raw_events) > settings.max_batch_events:
        raise Problem(
            "payload_too_large",
            f"{len(raw_events)} events in one request; the limit is "
            f"{settings.max_batch_events}. Split the batch.",
            param="/events",
        )
    if not raw_events:
        raise Problem(
            "validation_error",
            f"the batch has no events; send 1 to {settings.max_batch_events} events in 'events'",
            param="/events",
            errors=[item_error("/events", "too_short", "at least one event is required")],
        )
    sent_at = _sent_at(data.get("sent_at"))
    context = data.get("context")
    if context is not None and not isinstance(context, dict):
        raise Problem(
            "validation_error",
            "context must be an object",
            param="/context",
            errors=[item_error("/context", "invalid_type", "context must be an object")],
        )
    received_us = to_micros(received)
    batch = Batch(items=[], warnings=[], received_at=received_us)
    measure = body_size is None or body_size > settings.max_event_bytes
    shaped, indexes = [], []
    for index, raw in enumerate(raw_events):
        raw_id = raw.get("event_id") if isinstance(raw, dict) else None
        item = Item(index=index, event_id=raw_id if isinstance(raw_id, str) else None)
        batch.items.append(item)
        if measure and isinstance(raw, dict) and serialized_size(raw) > settings.max_event_bytes:
            # Measured on the event as sent, before the batch context is merged in.
            item.reject(
                f"/events/{index}",
                "event_too_large",
                f"the event is over {settings.max_event_bytes:,} bytes as JSON; trim it",
            )
            continue
        shaped.append(merge_context(context, raw))
        indexes.append(index)
    screened = screen_events(shaped, sent_at=sent_at, received_us=received_us, settings=settings)
    for index, event, accepted in zip(indexes, shaped, screened, strict=True):
        item = batch.items[index]
        if accepted is None:
            # Not the common case: the per-item path decides, and lists every error.
            _check_item(item, event, sent_at, received_us, settings)
        else:
            item.event_id, item.row, item.clicks, item.generated_id = accepted
        if item.status != "rejected" and item.generated_id:
            batch.warnings.append(
                {
                    "index": index,
                    "code": "event_id_missing",
                    "detail": "server-generated id; retries may duplicate",
                }
            )
    _derive_channel_groups([i for i in batch.items if i.status != "rejected"], settings)
    return batch


def _sent_at(value: Any) -> int | None:
    if value is None:
        return None
    parsed = parse_rfc3339(value) if isinstance(value, str) else None
    if parsed is None:
        raise Problem(
            "validation_error",
            "sent_at must be an RFC 3339 date-time with an offset (Z or +hh:mm)",
            param="/sent_at",
            errors=[item_error("/sent_at", "invalid_timestamp", "RFC 3339 with an offset")],
        )
    return to_micros(parsed)


def merge_context(context: dict[str, Any] | None, event: Any) -> Any:
    """``event`` with ``context`` as defaults, nested objects merged; the event wins.

    Examples
    --------
    >>> merge_context({"channel": {"source": "shop", "medium": "x"}, "user_id": "u"},
    ...               {"channel": {"medium": "email"}})
    {'channel': {'source': 'shop', 'medium': 'email'}, 'user_id': 'u'}
    """
    if not context or not isinstance(event, dict):
        return event
    merged = dict(context)
    for key, value in event.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_context(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_item(
    item: Item, raw: Any, sent_at: int | None, received_us: int, settings: Settings
) -> None:
    """Validate one event on its own; set its errors, or build its row."""
    event, errors = validate_event(raw, item.index, max_bytes=None)
    if event is None:
        item.status = "rejected"
        item.errors = errors
        return
    _accept(item, event, sent_at, received_us, settings)


def _accept(
    item: Item, event: Event, sent_at: int | None, received_us: int, settings: Settings
) -> None:
    """Apply the clock and currency rules to a well-formed event; build its row."""
    base = f"/events/{item.index}"
    original = parse_rfc3339(event.timestamp)
    assert original is not None  # validated already
    original_us = to_micros(original)
    # Segment's skew correction: the client's clock error cancels out.
    ts = received_us - (sent_at - original_us) if sent_at is not None else original_us
    _check_time(item, event, ts, received_us, settings, base)
    if event.conversion is not None and event.conversion.currency:
        if event.conversion.currency != settings.currency:
            item.reject(
                f"{base}/conversion/currency",
                "currency_mismatch",
                f"the workspace currency is {settings.currency}; values are never converted. "
                f"Send {settings.currency} amounts.",
            )
    if item.status == "rejected":
        return
    generated = event.event_id is None
    item.event_id = event.event_id or str(uuid7())
    item.clicks = event_click_ids(event)
    item.row = _row(event, item.event_id, ts, original_us, sent_at, received_us, settings)
    item.generated_id = generated


def _check_time(
    item: Item, event: Event, ts: int, received_us: int, settings: Settings, base: str
) -> None:
    pointer = f"{base}/timestamp"
    if ts > received_us + _us(settings.max_future):
        item.reject(
            pointer,
            "timestamp_in_future",
            f"more than {settings.max_future} after the server received it; check the clock "
            "or send sent_at for skew correction",
        )
        return
    if ts < to_micros(settings.import_floor):
        item.reject(pointer, "timestamp_too_old", "before 2000-01-01")
        return
    if event.event_type == "identify":
        return
    offline = event.conversion is not None and event.conversion.offline
    limit = settings.max_offline_age if offline else settings.max_age
    if ts < received_us - _us(limit):
        item.reject(
            pointer,
            "timestamp_too_old",
            f"older than {limit.days} days"
            + ("" if offline else " (offline conversions: 90 days)")
            + "; use /v1/imports",
        )


def _us(delta: Any) -> int:
    return int(delta.total_seconds() * 1_000_000)


def _row(
    event: Event,
    event_id: str,
    ts: int,
    original_us: int,
    sent_at: int | None,
    received_us: int,
    settings: Settings,
) -> dict[str, Any]:
    channel = event.channel
    conversion = event.conversion
    clicks = event_click_ids(event)
    is_conversion = event.event_type == "conversion"
    value = conversion.value if conversion is not None else None
    return {
        "event_id": event_id,
        "event_type": event.event_type,
        "name": conversion_name(event) if is_conversion else event.name,
        "user_id": event.user_id,
        "anonymous_id": event.anonymous_id,
        "ts": ts,
        "original_timestamp": event.timestamp,
        "sent_at": sent_at,
        "received_at": received_us,
        "source": channel.source if channel else None,
        "medium": channel.medium if channel else None,
        "campaign": channel.campaign if channel else None,
        "term": channel.term if channel else None,
        "content": channel.content if channel else None,
        "campaign_id": channel.campaign_id if channel else None,
        "referrer": channel.referrer if channel else None,
        "gclid": clicks.get("gclid"),
        "fbclid": clicks.get("fbclid"),
        "msclkid": clicks.get("msclkid"),
        "channel_group": channel.channel_group if channel else None,
        "rule_set": "client" if channel is not None and channel.channel_group else None,
        "value": float(value) if value is not None else None,
        # A conversion may come without a conversion object (``name`` stands for its name).
        "currency": ((conversion and conversion.currency) or settings.currency)
        if is_conversion
        else None,
        "order_id": conversion.order_id if conversion is not None else None,
        "offline": bool(conversion.offline) if conversion is not None else False,
        "source_system": conversion.source_system if conversion is not None else None,
        "match_status": None,
        "matched_user_id": None,
        "matched_anonymous_id": None,
        "session_id": None,
        "properties": properties_json(event.properties),
        "context": None,
        "first_touch": None,
        "import_id": None,
    }


def _derive_channel_groups(items: list[Item], settings: Settings) -> None:
    """Fill ``channel_group`` of touches that lack one with the GA4 default grouping."""
    todo = [i.row for i in items if i.row and i.row["event_type"] == "touch"]
    todo = [row for row in todo if not row["channel_group"]]
    if todo:
        derive_channel_groups(todo)
