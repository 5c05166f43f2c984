"""Rate limits: per key and mode, per IP before the key lookup, draft-11 headers."""

from __future__ import annotations

import re

import pytest

from causality.api.ratelimit import RateLimiter
from causality.api.settings import RatePolicy
from tests.api.conftest import touch

POLICY = re.compile(r'^"(?P<name>[a-z]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
STATE = re.compile(r'^"(?P<name>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def parse(response) -> tuple[dict, dict]:
    policy = POLICY.match(response.headers["RateLimit-Policy"])
    state = STATE.match(response.headers["RateLimit"])
    assert policy and state, response.headers
    return policy.groupdict(), state.groupdict()


@pytest.fixture
def limited(make_api):
    api = make_api(rate_limits=True)
    ticker = Ticker()
    api.services.limiter._clock = ticker
    return api, ticker


def test_every_response_carries_the_headers(limited):
    api, _ = limited
    secret = api.key()
    for response in (
        api.client.get("/v1/keys", headers=api.auth(secret)),
        api.client.get("/v1/health"),
        api.client.get("/v1/keys"),
        api.client.get("/v1/nowhere", headers=api.auth(secret)),
    ):
        parse(response)
    policy, state = parse(api.client.get("/v1/keys", headers=api.auth(secret)))
    assert policy == {"name": "default", "q": "25", "w": "1"}
    assert state["name"] == "default" and int(state["r"]) == 23


def test_a_burst_of_30_test_requests_gets_429_then_recovers(limited):
    api, ticker = limited
    secret = api.key()
    statuses = [api.client.get("/v1/keys", headers=api.auth(secret)).status_code for _ in range(30)]
    assert statuses.count(200) == 25 and statuses.count(429) == 5
    refused = api.client.get("/v1/keys", headers=api.auth(secret))
    assert refused.json()["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after >= 1 and parse(refused)[1]["r"] == "0"
    ticker.now += retry_after + 1  # the burst's window has slid out
    assert api.client.get("/v1/keys", headers=api.auth(secret)).status_code == 200


def test_live_keys_get_100_per_second(limited):
    api, _ = limited
    secret = api.key(mode="live")
    statuses = [
        api.client.get("/v1/keys", headers=api.auth(secret)).status_code for _ in range(101)
    ]
    assert statuses.count(200) == 100 and statuses[-1] == 429


def test_refused_requests_are_not_processed_or_saved(limited):
    api, _ = limited
    secret = api.key()
    for _ in range(25):
        api.client.get("/v1/keys", headers=api.auth(secret))
    headers = {**api.auth(secret), "Idempotency-Key": "k"}
    refused = api.client.post("/v1/events", headers=headers, json={"events": [touch("a")]})
    assert refused.status_code == 429
    api.services.limiter._clock.now += 5
    accepted = api.client.post("/v1/events", headers=headers, json={"events": [touch("a")]})
    assert accepted.status_code == 200 and "Idempotent-Replayed" not in accepted.headers


def test_job_endpoints_have_their_own_policy():
    limiter = RateLimiter(clock=Ticker())
    jobs = RatePolicy("jobs", 10, 60)
    assert [limiter.hit(jobs, "k").allowed for _ in range(11)] == [True] * 10 + [False]
    assert limiter.hit(jobs, "k").headers()["RateLimit-Policy"] == '"jobs";q=10;w=60'


def test_unauthenticated_traffic_is_limited_per_ip(limited):
    api, _ = limited
    statuses = [api.client.get("/v1/keys").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert api.client.get("/v1/openapi.json").status_code == 429
    assert api.client.get("/v1/health").status_code == 200  # never limited
    secret = api.key()
    assert api.client.get("/v1/keys", headers=api.auth(secret)).status_code == 200


def test_sliding_window_weighs_the_previous_window():
    ticker = Ticker()
    limiter = RateLimiter(clock=ticker)
    policy = RatePolicy("p", 10, 1)
    assert all(limiter.hit(policy, "k").allowed for _ in range(10))
    ticker.now += 1.5  # half of the previous window still counts: 5 of 10
    allowed = [limiter.hit(policy, "k").allowed for _ in range(10)]
    assert allowed == [True] * 5 + [False] * 5
