"""RFC 9457 problem details: the `Problem` exception and the stable error codes.

Every 4xx/5xx answer is ``application/problem+json`` with ``type``
(``urn:causality:problem:<code>``), ``title``, ``status``, ``detail``,
``instance``, and the extensions ``code``, ``request_id`` and, when they apply,
``param`` (a JSON pointer) and ``errors[]`` (``{pointer, code, detail}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

PROBLEM_TYPE = "urn:causality:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"

#: Every problem code, its HTTP status and its title. The docs list this table.
CODES: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "Body is not valid JSON"),
    "invalid_parameter": (400, "Invalid parameter"),
    "unknown_model": (400, "Unknown model"),
    "model_unavailable": (400, "Model needs an optional extra"),
    "currency_mismatch": (400, "Currency differs from the workspace currency"),
    "invalid_api_key": (401, "Invalid API key"),
    "api_key_expired": (401, "API key expired"),
    "insufficient_scope": (403, "API key lacks a scope"),
    "mode_mismatch": (403, "Object belongs to the other mode"),
    "live_key_forbidden": (403, "Only test keys may do this"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "idempotency_key_in_use": (409, "Idempotency key in use"),
    "report_not_ready": (409, "Report not ready"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "validation_error": (422, "Request failed validation"),
    "batch_rejected": (422, "Every event was rejected"),
    "idempotency_key_mismatch": (422, "Idempotency key reused with another body"),
    "estimation_failed": (422, "The model could not be fitted"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal server error"),
    "storage_unavailable": (503, "Storage unavailable"),
}

#: Per-item error codes inside ``errors[]`` of event batches and imports.
ITEM_CODES: dict[str, str] = {
    "missing_field": "a required field is absent (the pointer names it)",
    "unknown_field": "a field that the event schema does not have",
    "invalid_type": "a value of the wrong JSON type",
    "invalid_value": "a value outside the allowed set or range",
    "invalid_format": "a value that does not match the required pattern",
    "too_long": "a string or list over its length limit",
    "too_short": "an empty string where text is required",
    "invalid_timestamp": "not RFC 3339 with an offset (Z or +hh:mm)",
    "timestamp_in_future": "more than 10 minutes after the server received it",
    "timestamp_too_old": "older than 7 days (offline conversions: 90 days); use /v1/imports",
    "invalid_currency": "not an ISO 4217 currency code",
    "currency_mismatch": "a currency other than the workspace currency",
    "properties_too_large": "more than 100 keys, deeper than 5 levels or strings over 1,024",
    "event_too_large": "the serialized event is over 32 KiB",
    "duplicate_order_id": "another conversion with this name already has this order_id",
}


class Problem(Exception):
    """An error answered as RFC 9457 problem+json.

    Parameters
    ----------
    code : str
        A key of `CODES`; it sets the status and title.
    detail : str
        A readable sentence naming the field or limit and the fix.
    param : str, optional
        JSON pointer (body) or parameter name (query) at fault.
    errors : sequence of dict, optional
        ``{pointer, code, detail}`` entries.
    headers : mapping, optional
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    extra : mapping, optional
        More members of the body (an event batch's ``results``).
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        param: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        if code not in CODES:
            raise KeyError(f"unknown problem code {code!r}")
        self.code = code
        self.status = status or CODES[code][0]
        self.detail = detail
        self.param = param
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, *, instance: str, request_id: str) -> dict[str, Any]:
        """The problem document."""
        out: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.code,
            "title": CODES[self.code][1],
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
            "request_id": request_id,
        }
        if self.param is not None:
            out["param"] = self.param
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


def dumps(body: Any) -> bytes:
    """Compact, deterministic JSON bytes (NaN refused)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def codes_markdown() -> str:
    """The problem and item codes as a Markdown list (for the OpenAPI description)."""
    lines = ["Problem codes (`code` of an error response):", ""]
    lines += [f"- `{code}` ({status}): {title}" for code, (status, title) in CODES.items()]
    lines += ["", "Item codes (`errors[].code` of an event or import item):", ""]
    lines += [f"- `{code}`: {text}" for code, text in ITEM_CODES.items()]
    return "\n".join(lines)
