"""Pydantic models of the event ingestion API, shared by the server and the client.

The models check each field's shape; `causality.api.validation` adds the rules
that span fields (an id per event, a channel per touch) and reports every
problem as ``{pointer, code, detail}`` with a JSON pointer into the request.
Importing this module needs pydantic only, never FastAPI.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from causality.api.currencies import ISO_4217
from causality.api.timeutil import parse_rfc3339

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
MAX_PROPERTY_KEYS = 100
MAX_PROPERTY_DEPTH = 5
MAX_STRING = 1024


def _timestamp(text: str) -> str:
    if parse_rfc3339(text) is None:
        raise PydanticCustomError(
            "invalid_timestamp",
            "not an RFC 3339 date-time with an offset (Z or +hh:mm), e.g. "
            "2026-11-28T09:59:58.120+01:00",
        )
    return text


def _value(value: str | float | int | None) -> str | float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise PydanticCustomError("invalid_type", "value must be a decimal string or a number")
    try:
        number = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise PydanticCustomError(
            "invalid_value", "value must be a decimal such as '49.90'"
        ) from None
    if not number.is_finite():
        raise PydanticCustomError("invalid_value", "value must be finite (no NaN or Infinity)")
    if number < 0:
        raise PydanticCustomError("invalid_value", "value must be >= 0")
    if number.as_tuple().exponent < -6:  # type: ignore[operator]
        raise PydanticCustomError("invalid_value", "value may have at most 6 decimals")
    if not math.isfinite(float(number)):
        raise PydanticCustomError("invalid_value", "value is too large")
    return value


def _currency(code: str) -> str:
    if code not in ISO_4217:
        raise PydanticCustomError(
            "invalid_currency", "currency must be an ISO 4217 code such as 'EUR' or 'USD'"
        )
    return code


def _properties(props: dict[str, Any] | None) -> dict[str, Any] | None:
    if props is None:
        return None
    if len(props) > MAX_PROPERTY_KEYS:
        raise PydanticCustomError(
            "properties_too_large", f"properties may have at most {MAX_PROPERTY_KEYS} keys"
        )
    _check_nested(props, 1)
    return props


def _check_nested(value: Any, depth: int) -> None:
    if isinstance(value, dict):
        if depth > MAX_PROPERTY_DEPTH:
            raise PydanticCustomError(
                "properties_too_large", f"properties may nest at most {MAX_PROPERTY_DEPTH} levels"
            )
        for key, item in value.items():
            if len(key) > MAX_STRING:
                raise PydanticCustomError(
                    "properties_too_large", f"property names may have at most {MAX_STRING} chars"
                )
            _check_nested(item, depth + 1)
    elif isinstance(value, list):
        if depth > MAX_PROPERTY_DEPTH:
            raise PydanticCustomError(
                "properties_too_large", f"properties may nest at most {MAX_PROPERTY_DEPTH} levels"
            )
        for item in value:
            _check_nested(item, depth + 1)
    elif isinstance(value, str) and len(value) > MAX_STRING:
        raise PydanticCustomError(
            "properties_too_large", f"property strings may have at most {MAX_STRING} characters"
        )
    elif isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("invalid_value", "property numbers must be finite")


Id = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=MAX_STRING)]
Name = Annotated[str, StringConstraints(max_length=64, pattern=NAME_PATTERN)]
Timestamp = Annotated[str, AfterValidator(_timestamp)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ClickIds(_Strict):
    """Ad click identifiers seen on a touch (or carried by an offline conversion)."""

    gclid: Id | None = None
    fbclid: Id | None = None
    msclkid: Id | None = None


class Channel(_Strict):
    """Where a touch came from: UTM fields, click ids, referrer, or a channel group."""

    source: Text | None = None
    medium: Text | None = None
    campaign: Text | None = None
    term: Text | None = None
    content: Text | None = None
    campaign_id: Text | None = None
    click_ids: ClickIds | None = None
    referrer: Text | None = None
    channel_group: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class Conversion(_Strict):
    """What a conversion was worth, and whether it happened offline."""

    name: Name | None = None
    value: Annotated[str | float | int | None, AfterValidator(_value)] = None
    currency: Annotated[str, AfterValidator(_currency)] | None = None
    order_id: Id | None = None
    offline: bool = False
    source_system: Id | None = None


class Event(_Strict):
    """One event of a batch: a touch, a conversion (online or offline) or an identify."""

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    event_type: Literal["touch", "conversion", "identify"]
    name: Name | None = None
    timestamp: Timestamp
    user_id: Id | None = None
    anonymous_id: Id | None = None
    channel: Channel | None = None
    conversion: Conversion | None = None
    properties: Annotated[dict[str, Any] | None, AfterValidator(_properties)] = None


class EventBatch(BaseModel):
    """The body of ``POST /v1/events`` (events are validated one by one)."""

    model_config = ConfigDict(extra="forbid")

    sent_at: Timestamp | None = Field(
        default=None, description="When the client sent the batch; enables clock-skew correction"
    )
    context: dict[str, Any] | None = Field(
        default=None, description="Defaults merged into every event; the event's fields win"
    )
    events: list[Event] = Field(description="1 to 500 events", min_length=1, max_length=500)
