"""Column-wise screening of a batch: the common, valid case of ``POST /v1/events`` in a few passes.

`screen_events` checks a batch as columns rather than event by event: one pydantic call
checks every event's shape (`EventShape`: the `Event` schema without its timestamp
callback), then the cross-field rules, the timestamps, the clock rules and the currency
run over whole columns (numpy for the clock), and the storage rows of the events that
pass are built from the same columns.

The screen is conservative: it passes an event only when the per-item path
(`causality.api.validation.validate_event`, then the clock and currency rules of
`causality.api.ingest`) would accept it with the same row. Every other event is left
to that path, the one place that writes error lists, so an answer never depends on
which path ran (``tests/api/test_screening.py`` checks this over generated batches).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from pydantic import TypeAdapter, ValidationError

from causality.api.ids import uuid7
from causality.api.schemas import Event
from causality.api.settings import Settings
from causality.api.timeutil import parse_rfc3339, to_micros

CLICK_KINDS = ("gclid", "fbclid", "msclkid")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_EMPTY: dict[str, Any] = {}


class EventShape(Event):
    """`Event` without the timestamp check, which `screen_events` runs as a column."""

    timestamp: str


_SHAPES = TypeAdapter(list[EventShape])


class Accepted(NamedTuple):
    """What the screen gives an event that passes: its id, storage row and click ids."""

    event_id: str
    row: dict[str, Any]
    clicks: dict[str, str]
    generated_id: bool


def screen_events(
    events: list[Any], *, sent_at: int | None, received_us: int, settings: Settings
) -> list[Accepted | None]:
    """Screen a batch; per event, its `Accepted` row or None (the per-item path decides).

    Parameters
    ----------
    events : list
        The batch's events as parsed JSON, with the batch ``context`` merged in.
    sent_at : int or None
        The batch's ``sent_at`` in epoch microseconds (clock-skew correction).
    received_us : int
        When the server received the batch, epoch microseconds.
    settings : Settings
        Clock limits and the workspace currency.

    Returns
    -------
    list of Accepted or None
        In the order of ``events``: the row of each event the screen passes, None for
        each one the per-item path must check (it may still accept it).
    """
    shaped = _shaped(events)
    good = [events[i] for i in shaped]
    out: list[Accepted | None] = [None] * len(events)
    if not good:
        return out
    columns = _Columns(good)
    original, parsed = _timestamps([e["timestamp"] for e in good])
    ts = received_us - (sent_at - original) if sent_at is not None else original
    passed = parsed & columns.rules_hold() & _clock_holds(ts, received_us, columns, settings)
    passed &= columns.currency_holds(settings.currency)
    for k in np.flatnonzero(passed).tolist():
        out[shaped[k]] = columns.accepted(k, int(ts[k]), sent_at, received_us, settings.currency)
    return out


def _shaped(events: list[Any]) -> list[int]:
    """Positions of the events whose shape is valid, in order (one pydantic call)."""
    try:
        _SHAPES.validate_python(events)
    except ValidationError as exc:
        bad = {err["loc"][0] for err in exc.errors(include_url=False) if err["loc"]}
        return [i for i in range(len(events)) if i not in bad]
    return list(range(len(events)))


def _timestamps(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Epoch microseconds of RFC 3339 texts, and which of them parsed.

    Uses the per-item parser itself (`parse_rfc3339`), so a timestamp passes here
    exactly when it passes there.
    """
    parsed = list(map(parse_rfc3339, texts))
    ok = np.array([value is not None for value in parsed], dtype=bool)
    # (value - epoch) // 1 us is `to_micros`, exactly, without a call per event.
    micros = [(value - _EPOCH) // _ONE_US if value is not None else 0 for value in parsed]
    return np.array(micros, dtype=np.int64), ok


def _clock_holds(
    ts: np.ndarray, received_us: int, columns: _Columns, settings: Settings
) -> np.ndarray:
    """The clock rules of `causality.api.ingest` (future, floor, age) as one mask."""
    # Offline conversions may be 90 days old, other events 7; identifies any age.
    max_age = np.where(columns.offline, _us(settings.max_offline_age), _us(settings.max_age))
    fresh = (ts >= received_us - max_age) | columns.is_identify
    return (
        (ts <= received_us + _us(settings.max_future))
        & (ts >= to_micros(settings.import_floor))
        & fresh
    )


def _us(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1_000_000)


def _truthy(values: list[Any]) -> np.ndarray:
    """Element-wise truth of a column (None and '' are false)."""
    return np.array(values, dtype=object).astype(bool)


class _Columns:
    """The fields of well-shaped events as columns (None where absent)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.kind = np.array([e["event_type"] for e in events])
        self.is_identify = self.kind == "identify"
        self.channel = [e.get("channel") or _EMPTY for e in events]
        self.conversion = [e.get("conversion") or _EMPTY for e in events]
        clicks = [c.get("click_ids") or _EMPTY for c in self.channel]
        # The schema allows only the three kinds; keep their order (offline matching
        # tries the click ids in this order).
        self.clicks = [{k: c[k] for k in CLICK_KINDS if c.get(k)} for c in clicks]
        self.offline = np.array([c.get("offline") is True for c in self.conversion], dtype=bool)

    def rules_hold(self) -> np.ndarray:
        """`causality.api.validation.rule_errors` finds nothing, per event."""
        events, channel = self.events, self.channel
        user = _truthy([e.get("user_id") for e in events])
        anon = _truthy([e.get("anonymous_id") for e in events])
        click = _truthy(self.clicks)
        named = click.copy()
        for field in ("source", "medium", "campaign", "referrer", "channel_group"):
            named |= _truthy([c.get(field) for c in channel])
        conversion_name = _truthy([c.get("name") for c in self.conversion])
        conversion_name |= _truthy([e.get("name") for e in events])
        is_touch, is_conversion = self.kind == "touch", self.kind == "conversion"
        identified = np.where(self.is_identify, user & anon, user | anon | (self.offline & click))
        return identified & (named | ~is_touch) & (conversion_name | ~is_conversion)

    def currency_holds(self, currency: str) -> np.ndarray:
        """No conversion object names a currency other than the workspace's."""
        given = [c.get("currency") for c in self.conversion]
        return np.array([code is None or code == currency for code in given], dtype=bool)

    def accepted(
        self,
        k: int,
        ts: int,
        sent_at: int | None,
        received_us: int,
        currency: str,
    ) -> Accepted:
        """Event ``k``'s id and row, as `causality.api.ingest` builds them."""
        event, channel, conversion = self.events[k], self.channel[k], self.conversion[k]
        clicks = self.clicks[k]
        given_id = event.get("event_id")
        event_id = given_id or str(uuid7())
        kind = event["event_type"]
        is_conversion = kind == "conversion"
        value = conversion.get("value")
        group = channel.get("channel_group")
        row = {
            "event_id": event_id,
            "event_type": kind,
            "name": (conversion.get("name") or event.get("name"))
            if is_conversion
            else event.get("name"),
            "user_id": event.get("user_id"),
            "anonymous_id": event.get("anonymous_id"),
            "ts": ts,
            "original_timestamp": event["timestamp"],
            "sent_at": sent_at,
            "received_at": received_us,
            "source": channel.get("source"),
            "medium": channel.get("medium"),
            "campaign": channel.get("campaign"),
            "term": channel.get("term"),
            "content": channel.get("content"),
            "campaign_id": channel.get("campaign_id"),
            "referrer": channel.get("referrer"),
            "gclid": clicks.get("gclid"),
            "fbclid": clicks.get("fbclid"),
            "msclkid": clicks.get("msclkid"),
            "channel_group": group,
            "rule_set": "client" if group else None,
            "value": float(value) if value is not None else None,
            "currency": (conversion.get("currency") or currency) if is_conversion else None,
            "order_id": conversion.get("order_id"),
            "offline": bool(self.offline[k]),
            "source_system": conversion.get("source_system"),
            "match_status": None,
            "matched_user_id": None,
            "matched_anonymous_id": None,
            "session_id": None,
            "properties": properties_json(event.get("properties")),
            "context": None,
            "first_touch": None,
            "import_id": None,
        }
        return Accepted(event_id, row, clicks, given_id is None)


def properties_json(value: Any) -> str | None:
    """The stored form of ``properties``: compact JSON with sorted keys, or None."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
