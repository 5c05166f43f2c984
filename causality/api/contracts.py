"""Response bodies as pydantic models: they document the API in the OpenAPI schema.

Routes build their JSON directly (for speed and byte-stable output); these models
describe it, and the schemathesis tests check that every response conforms.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from causality.api.problems import PROBLEM_MEDIA_TYPE


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ItemErrorOut(BaseModel):
    """One problem with one field of one item."""

    pointer: str = Field(description="JSON pointer into the request body")
    code: str
    detail: str


class Warning(_Open):
    """Something accepted but worth knowing."""

    code: str
    detail: str
    index: int | None = None


class ProblemOut(_Open):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["urn:causality:problem:rate_limited"])
    title: str
    status: int
    detail: str
    instance: str
    code: str
    request_id: str
    param: str | None = None
    errors: list[ItemErrorOut] | None = None


class ItemResult(BaseModel):
    """The outcome of one event of a batch, in request order."""

    index: int
    event_id: str | None = None
    status: Literal["accepted", "duplicate", "rejected", "valid"]
    errors: list[ItemErrorOut] | None = None


class EventBatchResult(BaseModel):
    """The answer to ``POST /v1/events``."""

    object: Literal["event_batch_result"]
    request_id: str
    received_at: str
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]
    warnings: list[Warning]


class EventOut(_Open):
    """A stored event."""

    object: Literal["event"]
    event_id: str
    event_type: str
    timestamp: str
    received_at: str


class ApiKeyOut(BaseModel):
    """An API key, without its secret."""

    object: Literal["api_key"]
    id: str
    name: str
    mode: Literal["live", "test"]
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str | None
    expires_at: str | None
    revoked_at: str | None
    age_days: int
    secret: str | None = Field(
        default=None, description="The key itself; only in the answer that creates it"
    )
    warnings: list[Warning] | None = None


class ListOut(BaseModel):
    """A page of a list."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    has_more: bool
    next_cursor: str | None
    warnings: list[Warning] | None = None


class DeletedOut(_Open):
    """The answer to a deletion."""

    object: str
    deleted: int


class EventColumnsOut(BaseModel):
    """The in-memory event columns of one mode (what uncached attribution reads)."""

    ready: bool = Field(description="Loaded and in step with the database")
    events: int = Field(description="Touches and conversions held")
    bytes: int = Field(description="Approximate memory held")


class HealthOut(BaseModel):
    """Service and storage status."""

    status: Literal["ok", "unavailable"]
    storage: Literal["ok", "unavailable"]
    database: str
    version: str
    event_columns: dict[str, EventColumnsOut] | None = Field(
        default=None, description="Per mode; null when the server keeps no event columns"
    )


class AttributionRow(BaseModel):
    """Credit of one channel (or source/medium, or campaign)."""

    key: str
    conversions: float
    conversions_lower: float
    conversions_upper: float
    revenue: str
    revenue_lower: str
    revenue_upper: str
    share: float | None
    confidence: str


class AttributionOut(_Open):
    """The answer to ``GET /v1/attribution``."""

    object: Literal["attribution_result"]
    model: str
    kind: Literal["allocation", "incrementality"]
    params: dict[str, Any]
    rule_set: str
    library_version: str
    data_window: dict[str, str | None]
    data_freshness: dict[str, str | None]
    computed_at: str
    totals: dict[str, Any]
    ci_level: float
    rows: list[AttributionRow]
    baseline: dict[str, Any] | None
    warnings: list[Warning]


class RunOut(_Open):
    """A job: an attribution run, a report or an import."""

    object: str
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: str


class ScheduleOut(_Open):
    """A report schedule."""

    object: Literal["report_schedule"]
    id: str
    every: Literal["daily", "weekly"]
    at: str
    timezone: str
    next_run_at: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json answers (plus a default)."""
    entry = {
        "description": "Problem (RFC 9457)",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
    }
    out: dict[int | str, dict[str, Any]] = {status: dict(entry) for status in statuses}
    out["default"] = dict(entry)
    return out


def json_response_doc(model: type[BaseModel], description: str) -> dict[str, Any]:
    """An OpenAPI response entry with a JSON body of ``model``."""
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }
