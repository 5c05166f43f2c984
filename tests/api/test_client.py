"""`causality.client.Client` against the app in-process, with a flaky transport."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from causality.api.storage.tables import events
from causality.client import ApiError, Client, EventValidationError, batches
from tests.api.conftest import NOW, conversion, touch


class Flaky(httpx.BaseTransport):
    """Processes every request, but loses the first ``failures`` answers."""

    def __init__(self, inner: httpx.BaseTransport, failures: int, *, status: int | None = None):
        self.inner = inner
        self.failures = failures
        self.status = status
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        response.read()
        if self.failures:
            self.failures -= 1
            if self.status is None:
                raise httpx.ReadTimeout("answer lost", request=request)
            return httpx.Response(self.status, headers={"Retry-After": "0"}, request=request)
        return response


def client_for(
    api, secret: str, *, failures: int = 0, status: int | None = None
) -> tuple[Client, Flaky]:
    http = TestClient(api.app, raise_server_exceptions=False)
    flaky = Flaky(http._transport, failures, status=status)
    http._transport = flaky
    return Client(api_key=secret, http_client=http, backoff=0.001, seed=0), flaky


def stored_count(api) -> int:
    with api.services.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(events))


@pytest.mark.parametrize("status", [None, 503])
def test_two_lost_answers_store_exactly_one_copy(api, status):
    secret = api.key()
    client, flaky = client_for(api, secret, failures=2, status=status)
    plain = [{k: v for k, v in touch("x").items() if k != "event_id"} for _ in range(3)]
    result = client.send_events(plain)
    assert stored_count(api) == 3
    assert len(flaky.requests) == 3
    keys = {r.headers["Idempotency-Key"] for r in flaky.requests}
    bodies = {r.content for r in flaky.requests}
    assert len(keys) == 1 and len(bodies) == 1  # same key, same ids, same bytes
    assert result.accepted == 3 and len(set(result.event_ids)) == 3


def test_other_client_errors_are_not_retried(api):
    secret = api.key(scopes="attribution:read")
    client, flaky = client_for(api, secret)
    with pytest.raises(ApiError) as caught:
        client.send_events([touch("a")])
    assert caught.value.status == 403 and caught.value.code == "insufficient_scope"
    assert len(flaky.requests) == 1


def test_events_are_validated_before_sending(api):
    secret = api.key()
    client, flaky = client_for(api, secret)
    bad = touch("a")
    bad["timestamp"] = "2026-11-28 10:00"
    with pytest.raises(EventValidationError) as caught:
        client.send_events([touch("ok"), bad])
    assert caught.value.errors[0]["pointer"] == "/events/1/timestamp"
    assert flaky.requests == []


def test_large_sends_are_split_into_batches(api):
    secret = api.key()
    client, _flaky = client_for(api, secret)
    many = [touch(f"e{i}", user=f"u{i % 11}") for i in range(1203)]
    result = client.send_events(many)
    assert result.accepted == 1203 and [len(b["results"]) for b in result.batches] == [
        500,
        500,
        203,
    ]
    assert stored_count(api) == 1203


def test_batches_respect_the_byte_limit():
    big = [{"p": "x" * 300_000} for _ in range(7)]
    sizes = [len(b) for b in batches(big)]
    assert sizes == [3, 3, 1]


def test_rejections_come_back_per_item(api):
    secret = api.key()
    client, _ = client_for(api, secret)
    old = touch("old", at=NOW - timedelta(days=8))
    result = client.send_events([touch("a"), old])
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.errors[0]["errors"][0]["code"] == "timestamp_too_old"


def test_attribution_waits_for_slow_runs(make_api):
    api = make_api(rate_limits=False, attribution_budget_s=0.0)
    secret = api.key()
    client, _ = client_for(api, secret)
    client.send_events([touch("t"), conversion("c", at=NOW + timedelta(minutes=1))])
    result = client.attribution(
        model="last_click", start="2026-11-01", end="2026-12-01", params={"n_bootstrap": 10}
    )
    assert result["totals"]["conversions"] == 1.0 and result["params"]["n_bootstrap"] == 10
    assert [m["name"] for m in client.models()][:1] == ["first_click"]
