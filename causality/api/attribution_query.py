"""``GET /v1/attribution`` parameters: parsed, validated against the model's schema.

Model parameters arrive as ``param.<name>=<value>`` and are converted with the
model's `param_schema` (from the registry, so plug-in models work unchanged),
then checked by building the model. The canonical form of a query (every
parameter, defaults included) keys the result cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from causality.api.problems import Problem
from causality.api.settings import Settings
from causality.api.timeutil import parse_rfc3339, to_micros
from causality.errors import ConfigurationError, ModelNotFoundError

GROUP_BY = ("channel_group", "source_medium", "campaign")
DEFAULT_MODEL = "markov"
DEFAULT_DAYS = 30
TOP_LEVEL = frozenset(
    {
        "model",
        "start",
        "end",
        "timezone",
        "ci_level",
        "conversion",
        "group_by",
        "lookback_days",
        "currency",
    }
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclasses.dataclass(frozen=True)
class AttributionQuery:
    """A validated attribution request; `key` identifies its result."""

    model: str
    params: dict[str, Any]
    start_us: int
    end_us: int
    timezone: str
    conversion: str
    group_by: str
    lookback_days: int
    currency: str

    def payload(self) -> dict[str, Any]:
        """A JSON-safe form (stored with attribution runs)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AttributionQuery:
        """Rebuild from `payload`."""
        return cls(**payload)

    def key(self) -> str:
        """SHA-256 of the canonical query: equal queries, equal keys."""
        text = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def lookback_us(self) -> int:
        """The lookback window in microseconds."""
        return self.lookback_days * 86_400 * 1_000_000


def _bad(param: str, detail: str) -> Problem:
    return Problem("invalid_parameter", detail, param=param)


def parse_query(items: Sequence[tuple[str, str]], settings: Settings) -> AttributionQuery:
    """Validate the query string of ``GET /v1/attribution``.

    Raises `Problem` 400 (``invalid_parameter``, ``unknown_model``,
    ``currency_mismatch``) naming the parameter.
    """
    values: dict[str, str] = {}
    model_params: dict[str, str] = {}
    for name, value in items:
        target = model_params if name.startswith("param.") else values
        key = name.removeprefix("param.")
        if key in target:
            raise _bad(name, f"parameter {name!r} is given twice")
        if name.startswith("param.") or name in TOP_LEVEL:
            target[key] = value
        else:
            raise _bad(
                name,
                f"unknown parameter {name!r}; valid: {', '.join(sorted(TOP_LEVEL))} and "
                "param.<name> for model parameters",
            )
    tz = _timezone(values.get("timezone", "UTC"))
    start_us, end_us = _window(values.get("start"), values.get("end"), tz, settings)
    model = values.get("model", DEFAULT_MODEL)
    ci_level = _number("ci_level", values.get("ci_level", "0.9"), 0.5, 0.99)
    lookback = _integer("lookback_days", values.get("lookback_days", "30"), 1, 90)
    conversion = values.get("conversion", "purchase")
    if not _NAME.match(conversion):
        raise _bad("conversion", "conversion must be an event name such as 'purchase'")
    group_by = values.get("group_by", "channel_group")
    if group_by not in GROUP_BY:
        raise _bad("group_by", f"group_by must be one of {', '.join(GROUP_BY)}")
    currency = values.get("currency", settings.currency).upper()
    if currency != settings.currency:
        raise Problem(
            "currency_mismatch",
            f"the workspace currency is {settings.currency}; amounts are never converted",
            param="currency",
        )
    params = model_params_for(model, model_params, ci_level)
    return AttributionQuery(
        model=model,
        params=params,
        start_us=start_us,
        end_us=end_us,
        timezone=str(tz.key),
        conversion=conversion,
        group_by=group_by,
        lookback_days=lookback,
        currency=currency,
    )


def model_params_for(model: str, raw: dict[str, str], ci_level: float) -> dict[str, Any]:
    """Convert ``param.<name>`` values by the model's schema and validate them."""
    from causality.registry import available_models, get_model

    try:
        cls = get_model(model)
    except ModelNotFoundError:
        raise Problem(
            "unknown_model",
            f"no model named {model!r}; available models: {', '.join(available_models())}",
            param="model",
            extra={"available_models": available_models()},
        ) from None
    schema = cls.param_schema() if hasattr(cls, "param_schema") else {"properties": {}}
    properties = schema.get("properties", {})
    if "ci_level" in raw:
        raise _bad("param.ci_level", "give the interval level as ci_level=, not param.ci_level")
    params: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in properties:
            raise _bad(
                f"param.{name}",
                f"model {model!r} has no parameter {name!r}; its parameters: "
                f"{', '.join(sorted(properties))}",
            )
        params[name] = convert_param(name, text, properties[name])
    if "ci_level" in properties:
        params["ci_level"] = ci_level
    try:
        instance = cls.from_params(params) if hasattr(cls, "from_params") else cls(**params)
    except (ConfigurationError, TypeError, ValueError) as exc:
        raise _bad("param", f"bad parameters for model {model!r}: {exc}") from None
    if hasattr(instance, "params"):
        return json.loads(json.dumps(instance.params(), default=str))
    return params


def convert_param(name: str, text: str, schema: dict[str, Any]) -> Any:
    """A query-string value converted to its JSON Schema type.

    Examples
    --------
    >>> convert_param("order", "2", {"type": "integer"})
    2
    >>> convert_param("seed", "null", {"type": ["integer", "null"]}) is None
    True
    """
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "null" in types and text in ("null", ""):
        return None
    kind = next((t for t in types if t != "null"), None)
    pointer = f"param.{name}"
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d{1,18}", text):
            raise _bad(pointer, f"param.{name} must be an integer; got {text!r}")
        value: Any = int(text)
    elif kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise _bad(pointer, f"param.{name} must be a number; got {text!r}") from None
        if not math.isfinite(value):
            raise _bad(pointer, f"param.{name} must be finite")
    elif kind == "boolean":
        if text.lower() not in ("true", "false", "1", "0"):
            raise _bad(pointer, f"param.{name} must be true or false; got {text!r}")
        value = text.lower() in ("true", "1")
    elif kind == "array":
        value = _json_or(text, [s for s in text.split(",") if s])
        if not isinstance(value, list):
            raise _bad(pointer, f"param.{name} must be a list (JSON array or a,b,c)")
    elif kind == "string":
        value = text
    else:
        value = _json_or(text, text)
    if "enum" in schema and value not in schema["enum"]:
        raise _bad(pointer, f"param.{name} must be one of {schema['enum']}; got {text!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise _bad(pointer, f"param.{name} must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _bad(pointer, f"param.{name} must be <= {schema['maximum']}")
    return value


def _json_or(text: str, fallback: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return fallback


def _timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _bad("timezone", f"unknown IANA time zone {name!r}, e.g. 'Europe/Berlin'") from None


def _number(name: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise _bad(name, f"{name} must be a number from {low} to {high}; got {text!r}")
    return value


def _integer(name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,4}", text) or not low <= int(text) <= high:
        raise _bad(name, f"{name} must be an integer from {low} to {high}; got {text!r}")
    return int(text)


def _window(
    start: str | None, end: str | None, tz: ZoneInfo, settings: Settings
) -> tuple[int, int]:
    """Start and end (exclusive) in epoch microseconds.

    Defaults are whole days in ``tz``, so that repeated requests share a cache
    entry: ``end`` is the midnight after now (plus the allowed clock skew), and
    ``start`` is 30 days before ``end``.
    """
    if end is not None:
        end_us = _instant("end", end, tz)
    else:
        local = (settings.now() + settings.max_future).astimezone(tz)
        end_us = _local_midnight(local.date() + timedelta(days=1), tz)
    if start is not None:
        start_us = _instant("start", start, tz)
    else:
        end_local = datetime.fromtimestamp(end_us / 1e6, tz)
        start_us = _local_midnight(end_local.date() - timedelta(days=DEFAULT_DAYS), tz)
    if start_us >= end_us:
        raise _bad("start", "start must be before end (end is exclusive)")
    return start_us, end_us


def _local_midnight(day: date, tz: ZoneInfo) -> int:
    return to_micros(datetime.combine(day, time(0), tzinfo=tz))


def _instant(name: str, text: str, tz: ZoneInfo) -> int:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return _local_midnight(date.fromisoformat(text), tz)
        except ValueError:
            pass
    parsed = parse_rfc3339(text)
    if parsed is None or parsed.year < 2000 or parsed.year > 2200:
        raise _bad(
            name,
            f"{name} must be a date (2026-11-01) or an RFC 3339 date-time with an offset; "
            f"got {text!r}",
        )
    return to_micros(parsed)
