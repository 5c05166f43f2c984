"""`Client`: the Python client of the causality HTTP API.

It validates events with the server's own models before sending, batches them
(at most 500 events and 1 MiB a request), gives every event a UUIDv7 ``event_id``
and every batch an ``Idempotency-Key``, and retries 429, 5xx and network errors
with exponential backoff and jitter (honouring ``Retry-After``). A retry resends
the same bytes, so a batch stored before its answer was lost is never stored
twice. Needs the ``api`` extra (httpx, pydantic).

Examples
--------
::

    from causality.client import Client

    with Client("http://127.0.0.1:8000", api_key="cz_test_...") as client:
        client.send_events([{"event_type": "touch", "timestamp": "2026-11-28T09:59:58Z",
                             "user_id": "u1", "channel": {"source": "google", "medium": "cpc"}}])
        result = client.attribution(model="markov")
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from causality.errors import CausalityError

__all__ = ["ApiError", "Client", "EventValidationError", "SendResult"]

MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(CausalityError):
    """The API answered with a problem (4xx/5xx) that retrying does not fix.

    Attributes
    ----------
    status : int
    code : str
        The problem's stable code (``insufficient_scope``, ``rate_limited``, ...).
    problem : dict
        The whole RFC 9457 document, ``request_id`` included.
    """

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.code = str(problem.get("code", "unknown"))
        self.request_id = problem.get("request_id")
        super().__init__(
            f"{status} {self.code}: {problem.get('detail', '')} (request_id {self.request_id})"
        )


class EventValidationError(CausalityError, ValueError):
    """Events failed local validation; nothing was sent.

    Attributes
    ----------
    errors : list of dict
        ``{pointer, code, detail}`` per problem; pointers index the events as given.
    """

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        shown = "; ".join(f"{e['pointer']}: {e['code']} ({e['detail']})" for e in errors[:5])
        more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
        super().__init__(
            f"{len(errors)} problem(s) in the events, nothing sent: {shown}{more}. Fix the "
            "events, or pass validate=False to let the server report them per item."
        )


@dataclass
class SendResult:
    """The outcome of `Client.send_events`: counts and every batch's answer."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    event_ids: list[str] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Results of rejected events (``index`` counts across the whole send)."""
        out = []
        offset = 0
        for batch in self.batches:
            for item in batch.get("results", []):
                if item["status"] == "rejected":
                    out.append({**item, "index": offset + item["index"]})
            offset += len(batch.get("results", []))
        return out


class Client:
    """A client of one causality API server.

    Parameters
    ----------
    base_url : str
        Server address, e.g. ``http://127.0.0.1:8000``.
    api_key : str, optional
        A ``cz_live_...`` or ``cz_test_...`` key; default ``$CAUSALITY_API_KEY``.
    timeout : float
        Seconds per request.
    max_retries : int
        Retries of one request after a 429, a 5xx or a network error.
    backoff : float
        First retry delay in seconds; it doubles per retry (with full jitter), capped
        at ``max_backoff``; a longer ``Retry-After`` wins.
    http_client : httpx.Client, optional
        A preconfigured client (tests pass one bound to an in-process app).
    validate : bool
        Validate events locally before sending.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        http_client: Any = None,
        validate: bool = True,
        seed: int | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - the api extra is missing
            raise ImportError("the client needs httpx: pip install 'causality[api]'") from exc
        self.api_key = api_key or os.environ.get("CAUSALITY_API_KEY")
        if not self.api_key:
            raise CausalityError("no API key: pass api_key= or set CAUSALITY_API_KEY")
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.validate = validate
        self._random = random.Random(seed)  # noqa: S311 - retry jitter, not a secret
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)
        self._http.headers["Authorization"] = f"Bearer {self.api_key}"
        self._retryable = (httpx.TransportError,)

    # -- plumbing -------------------------------------------------------------------
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool (unless it was passed in)."""
        if self._own_http:
            self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Iterable[int] = (),
    ) -> Any:
        """Send one request with retries; returns the httpx response.

        POST requests carry an ``Idempotency-Key`` (the caller's, or a new UUIDv4 that
        every retry reuses). Statuses in ``ok`` are returned instead of raised.
        """
        headers = dict(headers or {})
        if method == "POST":
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
            headers.setdefault("Content-Type", "application/json")
        accepted = set(ok)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._http.request(
                    method, path, content=body, params=params, headers=headers
                )
            except self._retryable:
                if last:
                    raise
                self._sleep(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400 and response.status_code not in accepted:
                raise ApiError(response.status_code, _problem(response))
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self._random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(delay)

    # -- events ---------------------------------------------------------------------
    def send_events(
        self,
        events: Iterable[Mapping[str, Any]],
        *,
        context: Mapping[str, Any] | None = None,
        atomic: bool = False,
        validate_only: bool = False,
    ) -> SendResult:
        """Validate, batch and send events; returns counts and every batch's results.

        Events without an ``event_id`` get a UUIDv7 (kept in ``SendResult.event_ids``), so
        a retried batch is recognised as a duplicate, never stored twice.

        Raises
        ------
        EventValidationError
            Local validation failed (nothing was sent).
        ApiError
            The server refused a batch as a whole (401, 403, 413, ...).
        """
        prepared = [self._prepare(e) for e in events]
        if self.validate:
            self._check(prepared, context)
        result = SendResult(event_ids=[e["event_id"] for e in prepared])
        params = {k: "true" for k, v in (("atomic", atomic), ("validate_only", validate_only)) if v}
        for batch in batches(prepared, context=context):
            body = _dumps(
                {
                    "sent_at": _now(),
                    **({"context": dict(context)} if context else {}),
                    "events": batch,
                }
            )
            response = self.request("POST", "/v1/events", body=body, params=params, ok=(422,))
            answer = response.json()
            if response.status_code == 422 and answer.get("code") != "batch_rejected":
                raise ApiError(422, answer)
            result.batches.append(answer)
            result.accepted += answer["accepted"]
            result.duplicates += answer["duplicates"]
            result.rejected += answer["rejected"]
        return result

    @staticmethod
    def _prepare(event: Mapping[str, Any]) -> dict[str, Any]:
        from causality.api.ids import uuid7

        out = dict(event)
        if not out.get("event_id"):
            out["event_id"] = str(uuid7())
        return out

    @staticmethod
    def _check(events: list[dict[str, Any]], context: Mapping[str, Any] | None) -> None:
        from causality.api.ingest import merge_context
        from causality.api.validation import validate_event

        errors = []
        for index, event in enumerate(events):
            _parsed, problems = validate_event(merge_context(dict(context or {}), event), index)
            errors += problems
        if errors:
            raise EventValidationError(errors)

    # -- reading ----------------------------------------------------------------------
    def attribution(self, *, wait: float = 120.0, **params: Any) -> dict[str, Any]:
        """``GET /v1/attribution``; waits for a slow run (202) up to ``wait`` seconds.

        Keyword arguments are query parameters (``model``, ``start``, ``end``,
        ``group_by``, ...); a ``params`` mapping gives model parameters
        (``params={"order": 2}`` becomes ``param.order=2``).
        """
        model_params = params.pop("params", None) or {}
        query = {k: _query_value(v) for k, v in params.items() if v is not None}
        query.update({f"param.{k}": _query_value(v) for k, v in model_params.items()})
        response = self.request("GET", "/v1/attribution", params=query)
        if response.status_code != 202:
            return response.json()
        location = response.headers["Location"]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            run = self.request("GET", location).json()
            if run["status"] == "succeeded":
                return run["result"]
            if run["status"] == "failed":
                raise CausalityError(f"attribution run {run['id']} failed: {run['error']}")
        raise TimeoutError(f"attribution run at {location} still running after {wait} s")

    def models(self) -> list[dict[str, Any]]:
        """Every model the server offers, with its parameter schema."""
        return self.request("GET", "/v1/attribution/models").json()["data"]

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``."""
        return self.request("GET", "/v1/health").json()

    # -- reports and imports --------------------------------------------------------
    def create_report(
        self,
        *,
        type: str = "attribution_summary",
        format: str = "html",
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/reports``: queue a report; returns the report object."""
        body = _dumps({"type": type, "format": format, "params": dict(params or {})})
        return self.request("POST", "/v1/reports", body=body).json()

    def wait_report(self, report_id: str, *, wait: float = 120.0) -> dict[str, Any]:
        """Poll a report until it succeeded (or failed: raises)."""
        deadline = time.monotonic() + wait
        while True:
            report = self.request("GET", f"/v1/reports/{report_id}").json()
            if report["status"] == "succeeded":
                return report
            if report["status"] == "failed":
                raise CausalityError(f"report {report_id} failed: {report.get('error')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"report {report_id} not ready after {wait} s")
            time.sleep(0.5)

    def download_report(self, report_id: str) -> bytes:
        """The file of a finished report."""
        return self.request("GET", f"/v1/reports/{report_id}/download").content

    def import_file(self, path: str | os.PathLike[str], *, format: str) -> dict[str, Any]:
        """``POST /v1/imports``: upload a GA4 export or an NDJSON event file."""
        with open(path, "rb") as handle:
            data = handle.read()
        response = self.request(
            "POST",
            "/v1/imports",
            body=data,
            params={"format": format},
            headers={"Content-Type": "application/x-ndjson"},
        )
        return response.json()


def batches(
    events: list[dict[str, Any]],
    *,
    context: Mapping[str, Any] | None = None,
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[list[dict[str, Any]]]:
    """Split events into request-sized batches (by count and by JSON size).

    Examples
    --------
    >>> [len(b) for b in batches([{"n": i} for i in range(1001)])]
    [500, 500, 1]
    """
    overhead = len(_dumps({"sent_at": _now(), "context": dict(context or {}), "events": []}))
    batch: list[dict[str, Any]] = []
    size = overhead
    for event in events:
        event_size = len(_dumps(event)) + 1  # and a comma
        if batch and (len(batch) >= max_events or size + event_size > max_bytes):
            yield batch
            batch, size = [], overhead
        batch.append(event)
        size += event_size
    if batch:
        yield batch


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    body.setdefault("code", "http_error")
    body.setdefault("detail", response.text[:200])
    return body
