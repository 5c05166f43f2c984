"""HTTP conventions: request ids, content types, gzip and size limits, problem documents."""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path

import pytest

from causality.api.problems import CODES, PROBLEM_TYPE
from tests.api.conftest import touch

OPENAPI_COPY = Path(__file__).resolve().parents[2] / "causality" / "api" / "openapi.json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM_TYPE + code and body["code"] == code
    assert body["status"] == status and body["title"] == CODES[code][1]
    assert body["detail"] and body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


def test_request_id_is_echoed_when_valid(api):
    response = api.client.get("/v1/health", headers={"X-Request-Id": "abc.DEF-123_x"})
    assert response.headers["X-Request-Id"] == "abc.DEF-123_x"


@pytest.mark.parametrize("given", [None, "has space", "x" * 129, "semi;colon"])
def test_invalid_or_missing_request_id_gets_a_uuid7(api, given):
    headers = {"X-Request-Id": given} if given else {}
    response = api.client.get("/v1/keys", headers=headers)
    rid = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid)
    assert response.json()["request_id"] == rid


def test_health_needs_no_key(api):
    response = api.client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["storage"] == "ok"
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("text/plain", b'{"events": []}', 415, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", b"a=b", 415, "unsupported_media_type"),
        ("application/json", b"{not json", 400, "invalid_json"),
        ("application/json", b'{"events": [NaN]}', 400, "invalid_json"),
        ("application/json", b"\xff\xfe", 400, "invalid_json"),
        ("application/json", b"[1, 2]", 422, "validation_error"),
        ("application/json", b'{"events": []}', 422, "validation_error"),
        ("application/json", b'{"events": [], "extra": 1}', 422, "validation_error"),
        ("application/json", b'{"events": [{}], "sent_at": "yesterday"}', 422, "validation_error"),
    ],
)
def test_body_problems_are_table_driven(api, content_type, body, status, code):
    secret = api.key()
    response = api.client.post(
        "/v1/events", content=body, headers={**api.auth(secret), "Content-Type": content_type}
    )
    assert_problem(response, status, code)


def test_invalid_json_on_a_model_body_is_400(api):
    secret = api.key()
    response = api.client.post(
        "/v1/keys",
        content=b'{"name": ',
        headers={**api.auth(secret), "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "invalid_json")


def test_gzip_bodies_are_accepted(api):
    secret = api.key()
    body = gzip.compress(json.dumps({"events": [touch("g1")]}).encode())
    response = api.client.post(
        "/v1/events",
        content=body,
        headers={
            **api.auth(secret),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1


def _padded_body(size: int) -> bytes:
    """A JSON body of exactly ``size`` bytes (whitespace padding)."""
    core = json.dumps({"events": [touch("p1")]}).encode()
    return core[:-1] + b" " * (size - len(core)) + b"}"


@pytest.mark.parametrize("compressed", [False, True])
def test_one_mebibyte_is_accepted_one_more_byte_is_413(api, compressed):
    secret = api.key()
    headers = {**api.auth(secret), "Content-Type": "application/json"}
    if compressed:
        headers["Content-Encoding"] = "gzip"
    for size, status in ((1024 * 1024, 200), (1024 * 1024 + 1, 413)):
        body = _padded_body(size)
        response = api.client.post(
            "/v1/events", content=gzip.compress(body) if compressed else body, headers=headers
        )
        if status == 413:
            assert_problem(response, 413, "payload_too_large")
            assert "1,048,576" in response.json()["detail"]
        else:
            assert response.status_code == 200, response.text


def test_a_gzip_bomb_is_rejected_quickly(api):
    secret = api.key()
    bomb = gzip.compress(b"{" + b" " * (10 * 1024 * 1024) + b"}", compresslevel=9)
    started = time.perf_counter()
    response = api.client.post(
        "/v1/events",
        content=bomb,
        headers={
            **api.auth(secret),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert time.perf_counter() - started < 1.0
    assert_problem(response, 413, "payload_too_large")


def test_corrupt_gzip_is_400_and_unknown_encoding_415(api):
    secret = api.key()
    headers = {**api.auth(secret), "Content-Type": "application/json"}
    corrupt = api.client.post(
        "/v1/events", content=b"\x1f\x8bnot gzip", headers={**headers, "Content-Encoding": "gzip"}
    )
    assert_problem(corrupt, 400, "invalid_json")
    brotli = api.client.post(
        "/v1/events", content=b"{}", headers={**headers, "Content-Encoding": "br"}
    )
    assert_problem(brotli, 415, "unsupported_media_type")


def test_unknown_route_is_404_and_wrong_method_405(api):
    secret = api.key()
    assert_problem(api.client.get("/v1/nowhere", headers=api.auth(secret)), 404, "not_found")
    response = api.client.put("/v1/events", headers=api.auth(secret), json={})
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_bad_query_parameter_is_400(api):
    secret = api.key()
    response = api.client.get("/v1/keys", headers=api.auth(secret), params={"limit": 0})
    body = assert_problem(response, 400, "invalid_parameter")
    assert body["param"] == "limit"


def test_unhandled_errors_are_500_without_internals(api, monkeypatch):
    import causality.api.routers.events as events_router

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(events_router, "prepare_batch", broken)
    secret = api.key()
    response = api.post_events(secret, [touch("x")])
    body = assert_problem(response, 500, "internal_error")
    assert "secret internal" not in response.text and "passwd" not in body["detail"]


def test_storage_outage_is_503_with_retry_after(api, monkeypatch):
    from sqlalchemy.exc import OperationalError

    secret = api.key()

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(api.services.db, "read", down)
    response = api.client.get("/v1/keys", headers=api.auth(secret))
    assert_problem(response, 503, "storage_unavailable")
    assert response.headers["Retry-After"] == "1"
    health = api.client.get("/v1/health")
    assert health.status_code == 503 and health.json()["storage"] == "unavailable"


def test_openapi_is_3_1_served_without_a_key_and_docs_exist(api):
    schema = api.client.get("/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
    assert api.client.get("/docs").status_code == 200


def test_committed_openapi_copy_equals_the_generated_one(api):
    generated = api.client.get("/v1/openapi.json").json()
    committed = json.loads(OPENAPI_COPY.read_text())
    assert committed == generated, (
        "causality/api/openapi.json is stale; regenerate it with "
        "`python -m causality.api.openapi causality/api/openapi.json`"
    )


def test_times_in_responses_are_utc_with_z(api):
    secret = api.key()
    body = api.post_events(secret, [touch("t1", at=api.clock())]).json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z", body["received_at"])
