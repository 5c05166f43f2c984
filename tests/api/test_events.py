"""``POST /v1/events``: per-item validation, clocks, limits, dedup, idempotency, matching."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from causality.api.storage.tables import events, identities
from tests.api.conftest import NOW, conversion, touch


def count(api, mode: str = "test") -> int:
    with api.services.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(events).where(events.c.mode == mode))


def stored(api, event_id: str, secret: str) -> dict:
    response = api.client.get(f"/v1/events/{event_id}", headers=api.auth(secret))
    assert response.status_code == 200, response.text
    return response.json()


def test_all_accepted_is_200_with_results_in_order(api):
    secret = api.key()
    response = api.post_events(secret, [touch("a"), conversion("b"), touch("c", user="u2")])
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "event_batch_result"
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 0)
    assert [(r["index"], r["event_id"], r["status"]) for r in body["results"]] == [
        (0, "a", "accepted"),
        (1, "b", "accepted"),
        (2, "c", "accepted"),
    ]
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert count(api) == 3


def test_some_rejected_is_207_and_the_rest_is_stored(api):
    secret = api.key()
    bad = touch("bad")
    del bad["user_id"]
    response = api.post_events(secret, [touch("a"), bad, touch("c")])
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["results"][1] == {
        "index": 1,
        "event_id": "bad",
        "status": "rejected",
        "errors": [
            {
                "pointer": "/events/1/user_id",
                "code": "missing_field",
                "detail": body["results"][1]["errors"][0]["detail"],
            }
        ],
    }
    assert count(api) == 2


def test_all_rejected_is_422_problem_with_results(api):
    secret = api.key()
    response = api.post_events(secret, [{"event_type": "touch"}, {"event_type": "nope"}])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "batch_rejected" and body["rejected"] == 2
    assert response.headers["content-type"].startswith("application/problem+json")
    pointers = {e["pointer"] for r in body["results"] for e in r["errors"]}
    assert {"/events/0/timestamp", "/events/1/event_type"} <= pointers
    assert count(api) == 0


@pytest.mark.parametrize(
    ("mutate", "pointer", "code"),
    [
        (lambda e: e.pop("timestamp"), "/events/0/timestamp", "missing_field"),
        (lambda e: e.pop("event_type"), "/events/0/event_type", "missing_field"),
        (
            lambda e: e.update(timestamp="2026-11-28T09:59:58"),
            "/events/0/timestamp",
            "invalid_timestamp",
        ),
        (lambda e: e.update(timestamp="2026-11-28"), "/events/0/timestamp", "invalid_timestamp"),
        (lambda e: e.update(user_id=""), "/events/0/user_id", "too_short"),
        (lambda e: e.update(user_id="u" * 256), "/events/0/user_id", "too_long"),
        (lambda e: e.update(event_id="e" * 101), "/events/0/event_id", "too_long"),
        (lambda e: e.update(name="9lives"), "/events/0/name", "invalid_format"),
        (lambda e: e.update(name="n" * 65), "/events/0/name", "too_long"),
        (lambda e: e.update(surprise=1), "/events/0/surprise", "unknown_field"),
        (lambda e: e.update(channel={}), "/events/0/channel", "missing_field"),
        (
            lambda e: e.update(channel={"source": "x" * 1025}),
            "/events/0/channel/source",
            "too_long",
        ),
        (
            lambda e: e.update(properties={f"k{i}": i for i in range(101)}),
            "/events/0/properties",
            "properties_too_large",
        ),
        (
            lambda e: e.update(properties={"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}),
            "/events/0/properties",
            "properties_too_large",
        ),
        (
            lambda e: e.update(properties={"s": "x" * 1025}),
            "/events/0/properties",
            "properties_too_large",
        ),
        (lambda e: e.update(user_id=5), "/events/0/user_id", "invalid_type"),
    ],
)
def test_touch_item_errors_are_table_driven(api, mutate, pointer, code):
    secret = api.key()
    event = touch("e1")
    mutate(event)
    response = api.post_events(secret, [event])
    errors = response.json()["results"][0]["errors"]
    assert (pointer, code) in [(e["pointer"], e["code"]) for e in errors]


@pytest.mark.parametrize(
    ("conv", "pointer", "code"),
    [
        ({"name": None}, "/events/0/conversion/name", "missing_field"),
        ({"value": "NaN"}, "/events/0/conversion/value", "invalid_value"),
        ({"value": "Infinity"}, "/events/0/conversion/value", "invalid_value"),
        ({"value": "-1"}, "/events/0/conversion/value", "invalid_value"),
        ({"value": "1.1234567"}, "/events/0/conversion/value", "invalid_value"),
        ({"value": "abc"}, "/events/0/conversion/value", "invalid_value"),
        ({"value": True}, "/events/0/conversion/value", "invalid_type"),
        ({"currency": "EURO"}, "/events/0/conversion/currency", "invalid_currency"),
        ({"currency": "EUR"}, "/events/0/conversion/currency", "currency_mismatch"),
        ({"offline": "yes"}, "/events/0/conversion/offline", "invalid_type"),
    ],
)
def test_conversion_item_errors_are_table_driven(api, conv, pointer, code):
    secret = api.key()
    event = conversion("c1")
    event["conversion"].update(conv)
    if conv.get("name", "") is None:
        del event["conversion"]["name"]
    response = api.post_events(secret, [event])
    errors = response.json()["results"][0]["errors"]
    assert (pointer, code) in [(e["pointer"], e["code"]) for e in errors]


def test_value_with_six_decimals_and_the_workspace_currency_pass(api):
    secret = api.key()
    event = conversion("c1", value="0.123456", currency="USD")
    assert api.post_events(secret, [event]).status_code == 200
    assert stored(api, "c1", secret)["conversion"]["value"] == "0.123456"


def test_name_may_stand_for_conversion_name(api):
    secret = api.key()
    event = conversion("c1")
    del event["conversion"]["name"]
    event["name"] = "lead"
    assert api.post_events(secret, [event]).status_code == 200
    assert stored(api, "c1", secret)["name"] == "lead"


@pytest.mark.parametrize("screen", [True, False], ids=["screened", "per-item"])
def test_a_conversion_without_a_conversion_object_is_in_the_workspace_currency(
    api, monkeypatch, screen
):
    # Both paths: the per-item one once failed here with a 500 (no conversion object).
    if not screen:
        from causality.api import ingest

        monkeypatch.setattr(ingest, "screen_events", lambda events, **_: [None] * len(events))
    secret = api.key()
    event = conversion("c1")
    del event["conversion"]
    event["name"] = "signup"
    assert api.post_events(secret, [event]).status_code == 200
    body = stored(api, "c1", secret)
    assert body["name"] == "signup"
    assert body["conversion"]["currency"] == api.services.settings.currency
    assert body["conversion"]["value"] is None


def test_offset_is_kept_and_time_stored_in_utc(api):
    secret = api.key()
    event = touch("e1")
    event["timestamp"] = "2026-11-28T10:59:58.120+01:00"
    assert api.post_events(secret, [event]).status_code == 200
    got = stored(api, "e1", secret)
    assert got["timestamp"] == "2026-11-28T09:59:58.120000Z"
    assert got["original_timestamp"] == "2026-11-28T10:59:58.120+01:00"


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2026-03-29T01:59:59+01:00", "2026-03-29T00:59:59.000000Z"),  # last second of CET
        ("2026-03-29T03:00:00+02:00", "2026-03-29T01:00:00.000000Z"),  # first of CEST
        ("2026-10-25T02:30:00+02:00", "2026-10-25T00:30:00.000000Z"),  # 02:30 before fall-back
        ("2026-10-25T02:30:00+01:00", "2026-10-25T01:30:00.000000Z"),  # 02:30 after it
    ],
)
def test_berlin_dst_boundaries_convert_by_the_given_offset(make_api, local, utc):
    api = make_api(
        rate_limits=False,
        clock=lambda: datetime(2026, 10, 26, tzinfo=UTC),
        max_age=timedelta(days=365),
    )
    secret = api.key()
    event = touch("e1")
    event["timestamp"] = local
    assert api.post_events(secret, [event]).status_code == 200
    assert stored(api, "e1", secret)["timestamp"] == utc


def test_sent_at_corrects_a_client_clock_one_hour_fast(api):
    secret = api.key()
    fast = NOW + timedelta(hours=1)
    event = touch("e1", at=fast - timedelta(seconds=30))
    response = api.client.post(
        "/v1/events",
        headers=api.auth(secret),
        json={"sent_at": fast.isoformat(), "events": [event]},
    )
    assert response.status_code == 200, response.text
    got = stored(api, "e1", secret)
    corrected = datetime.fromisoformat(got["timestamp"])
    assert abs(corrected - (NOW - timedelta(seconds=30))) <= timedelta(seconds=1)
    assert got["original_timestamp"] == event["timestamp"]
    assert got["sent_at"] and got["received_at"] == "2026-11-28T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("ahead", "ok"), [(timedelta(minutes=9), True), (timedelta(minutes=11), False)]
)
def test_future_limit_is_ten_minutes(api, ahead, ok):
    secret = api.key()
    response = api.post_events(secret, [touch("e1", at=NOW + ahead)])
    if ok:
        assert response.status_code == 200
    else:
        assert response.json()["results"][0]["errors"][0]["code"] == "timestamp_in_future"


@pytest.mark.parametrize(
    ("offline", "age", "ok"),
    [
        (False, timedelta(days=7), True),
        (False, timedelta(days=7, seconds=1), False),
        (True, timedelta(days=90), True),
        (True, timedelta(days=90, seconds=1), False),
    ],
)
def test_age_limits_are_seven_and_ninety_days(api, offline, age, ok):
    secret = api.key()
    event = conversion("c1", at=NOW - age, offline=offline)
    response = api.post_events(secret, [event])
    if ok:
        assert response.status_code == 200, response.text
    else:
        error = response.json()["results"][0]["errors"][0]
        assert error["code"] == "timestamp_too_old" and "/v1/imports" in error["detail"]


def test_touch_older_than_seven_days_is_too_old(api):
    secret = api.key()
    response = api.post_events(secret, [touch("t", at=NOW - timedelta(days=8))])
    assert response.json()["results"][0]["errors"][0]["code"] == "timestamp_too_old"


def _batch_of(n: int) -> list[dict]:
    return [touch(f"e{i}", user=f"u{i % 7}") for i in range(n)]


def test_500_events_are_accepted_501_are_413(api):
    secret = api.key()
    assert api.post_events(secret, _batch_of(500)).status_code == 200
    response = api.post_events(secret, _batch_of(501))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large" and "500" in response.json()["detail"]


def _event_of_size(event_id: str, size: int) -> dict:
    event = touch(event_id)
    event["properties"] = {"pad": ""}
    base = len(json.dumps(event, separators=(",", ":")).encode())
    padding = size - base
    event["properties"] = {f"p{i}": "x" * 1000 for i in range(padding // 1010)}
    base = len(json.dumps(event, separators=(",", ":")).encode())
    event["properties"]["pad"] = "y" * (size - base - len(',"pad":""'))
    assert len(json.dumps(event, separators=(",", ":")).encode()) == size
    return event


def test_an_event_of_32_kib_passes_one_byte_more_is_rejected_alone(api):
    secret = api.key()
    response = api.post_events(
        secret, [_event_of_size("ok", 32 * 1024), _event_of_size("big", 32 * 1024 + 1), touch("c")]
    )
    assert response.status_code == 207
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["accepted", "rejected", "accepted"]
    assert response.json()["results"][1]["errors"][0]["code"] == "event_too_large"


def test_context_is_merged_and_the_event_wins(api):
    secret = api.key()
    response = api.client.post(
        "/v1/events",
        headers=api.auth(secret),
        json={
            "context": {
                "user_id": "ctx_user",
                "channel": {"source": "newsletter", "medium": "email"},
            },
            "events": [
                {"event_id": "e1", "event_type": "touch", "timestamp": NOW.isoformat()},
                {
                    "event_id": "e2",
                    "event_type": "touch",
                    "timestamp": NOW.isoformat(),
                    "user_id": "own",
                    "channel": {"medium": "cpc", "source": "google"},
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    first, second = stored(api, "e1", secret), stored(api, "e2", secret)
    assert first["user_id"] == "ctx_user" and first["channel"]["channel_group"] == "Email"
    assert second["user_id"] == "own" and second["channel"]["channel_group"] == "Paid Search"


def test_missing_event_id_gets_a_uuid7_and_a_warning(api):
    secret = api.key()
    event = touch("x")
    del event["event_id"]
    body = api.post_events(secret, [event]).json()
    generated = body["results"][0]["event_id"]
    assert generated[14] == "7" and len(generated) == 36
    assert body["warnings"] == [
        {
            "index": 0,
            "code": "event_id_missing",
            "detail": "server-generated id; retries may duplicate",
        }
    ]


def test_same_batch_twice_is_all_duplicates_and_the_first_copy_stays(api):
    secret = api.key()
    batch = [touch("a", source="first"), conversion("b")]
    assert api.post_events(secret, batch).json()["accepted"] == 2
    batch[0]["channel"] = {"source": "second"}
    again = api.post_events(secret, batch)
    assert again.status_code == 200
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert count(api) == 2
    assert stored(api, "a", secret)["channel"]["source"] == "first"


def test_duplicate_ids_within_one_batch(api):
    secret = api.key()
    body = api.post_events(secret, [touch("a"), touch("a")]).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]


def test_order_id_dedup_per_conversion_name(api):
    secret = api.key()
    assert api.post_events(secret, [conversion("c1", order_id="A-1")]).status_code == 200
    response = api.post_events(
        secret,
        [
            conversion("c2", order_id="A-1"),
            conversion("c3", order_id="A-2"),
            conversion("c4", order_id="A-2"),
        ],
    )
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted", "rejected"]
    assert results[0]["errors"][0]["code"] == "duplicate_order_id"
    lead = conversion("c5", order_id="A-1")
    lead["conversion"]["name"] = "lead"
    assert api.post_events(secret, [lead]).status_code == 200


def test_atomic_batches_are_all_or_nothing(api):
    secret = api.key()
    bad = touch("bad")
    bad["timestamp"] = "yesterday"
    response = api.post_events(secret, [touch("a"), bad], atomic="true")
    assert response.status_code == 422 and response.json()["code"] == "batch_rejected"
    assert [r["status"] for r in response.json()["results"]] == ["valid", "rejected"]
    assert count(api) == 0
    assert api.post_events(secret, [touch("a")], atomic="true").status_code == 200


def test_validate_only_stores_nothing(api):
    secret = api.key()
    bad = touch("bad")
    del bad["channel"]
    response = api.post_events(secret, [touch("a"), bad], validate_only="true")
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["results"]] == ["valid", "rejected"]
    assert count(api) == 0


def test_idempotency_key_replays_the_stored_answer(api):
    secret = api.key()
    headers = {**api.auth(secret), "Idempotency-Key": "k-1"}
    body = {"events": [touch("a")]}
    first = api.client.post("/v1/events", headers=headers, json=body)
    second = api.client.post("/v1/events", headers=headers, json=body)
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.content == first.content
    other = api.client.post("/v1/events", headers=headers, json={"events": [touch("b")]})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_mismatch"
    api.clock.advance(hours=24, seconds=1)
    expired = api.client.post("/v1/events", headers=headers, json={"events": [touch("b")]})
    assert expired.status_code == 200 and "Idempotent-Replayed" not in expired.headers


def test_unprocessed_answers_are_not_saved(api):
    secret = api.key()
    headers = {**api.auth(secret), "Idempotency-Key": "k-2", "Content-Type": "application/json"}
    bad = api.client.post("/v1/events", headers=headers, content=b"{oops")
    assert bad.status_code == 400
    good = api.client.post("/v1/events", headers=headers, json={"events": [touch("a")]})
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers


def test_a_rejected_batch_is_saved_and_replayed(api):
    secret = api.key()
    headers = {**api.auth(secret), "Idempotency-Key": "k-3"}
    body = {"events": [{"event_type": "touch"}]}
    first = api.client.post("/v1/events", headers=headers, json=body)
    second = api.client.post("/v1/events", headers=headers, json=body)
    assert first.status_code == second.status_code == 422
    assert second.headers["Idempotent-Replayed"] == "true"


def test_concurrent_requests_with_one_key_conflict(api, monkeypatch):
    import causality.api.routers.events as events_router

    secret = api.key()
    entered, release = threading.Event(), threading.Event()
    original = events_router.prepare_batch

    def slow(*args, **kwargs):
        entered.set()
        release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(events_router, "prepare_batch", slow)
    headers = {**api.auth(secret), "Idempotency-Key": "k-4"}
    body = {"events": [touch("a")]}
    results = {}
    first = threading.Thread(
        target=lambda: results.setdefault(
            "first", api.client.post("/v1/events", headers=headers, json=body)
        )
    )
    first.start()
    assert entered.wait(10)
    second = api.client.post("/v1/events", headers=headers, json=body)
    release.set()
    first.join(10)
    assert second.status_code == 409 and second.json()["code"] == "idempotency_key_in_use"
    assert results["first"].status_code == 200
    third = api.client.post("/v1/events", headers=headers, json=body)
    assert third.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("insert", "params"),
    [("insert_new_rows", {}), ("insert_rows", {"atomic": "true"})],
    ids=["deduplicating-insert", "checked-insert"],
)
def test_a_failed_insert_leaves_no_claim_and_the_retry_stores_once(
    api, monkeypatch, insert, params
):
    import causality.api.event_store as event_store

    secret = api.key()
    original = getattr(event_store, insert)
    calls = []

    def failing_once(conn, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        return original(conn, rows)

    monkeypatch.setattr(event_store, insert, failing_once)
    headers = {**api.auth(secret), "Idempotency-Key": "k-5"}
    body = {"events": [touch("a"), conversion("b", order_id="o-1")]}
    post = api.client.post("/v1/events", headers=headers, json=body, params=params)
    assert post.status_code == 500 and calls == [2]
    assert count(api) == 0
    retry = api.client.post("/v1/events", headers=headers, json=body, params=params)
    assert retry.status_code == 200 and retry.json()["accepted"] == 2
    assert count(api) == 2


def test_offline_conversion_with_only_a_gclid_attaches_to_the_clicker(api):
    secret = api.key()
    click = touch("t1", user="alice", at=NOW - timedelta(days=2), click_ids={"gclid": "G-123"})
    assert api.post_events(secret, [click]).status_code == 200
    offline = conversion("c1", user=None, offline=True, source_system="crm")
    offline["channel"] = {"click_ids": {"gclid": "G-123"}}
    assert api.post_events(secret, [offline]).status_code == 200
    assert stored(api, "c1", secret)["conversion"]["match_status"] == "matched"
    with api.services.db.read() as conn:
        matched = conn.scalar(select(events.c.matched_user_id).where(events.c.event_id == "c1"))
    assert matched == "alice"
    assert stored(api, "t1", secret)["channel"]["channel_group"] == "Paid Search"


def test_unknown_offline_conversion_is_stored_unmatched(api):
    secret = api.key()
    offline = conversion("c1", user=None, offline=True)
    offline["channel"] = {"click_ids": {"gclid": "never-seen"}}
    response = api.post_events(secret, [offline])
    assert response.status_code == 200
    assert stored(api, "c1", secret)["conversion"]["match_status"] == "unmatched"


def test_identify_links_anonymous_ids_to_the_user(api):
    secret = api.key()
    batch = [
        {
            "event_id": "i1",
            "event_type": "identify",
            "timestamp": NOW.isoformat(),
            "user_id": "bob",
            "anonymous_id": "a1",
        },
        {
            "event_id": "i2",
            "event_type": "identify",
            "timestamp": NOW.isoformat(),
            "user_id": "bob",
            "anonymous_id": "a2",
        },
        {
            "event_id": "i3",
            "event_type": "identify",
            "timestamp": NOW.isoformat(),
            "user_id": "eve",
            "anonymous_id": "a2",
        },
    ]
    assert api.post_events(secret, batch).status_code == 200
    with api.services.db.read() as conn:
        links = dict(conn.execute(select(identities.c.anonymous_id, identities.c.user_id)).all())
    assert links == {"a1": "bob", "a2": "bob"}  # the first link wins; users never merge
    half = {
        "event_id": "i4",
        "event_type": "identify",
        "timestamp": NOW.isoformat(),
        "user_id": "x",
    }
    assert (
        api.post_events(secret, [half]).json()["results"][0]["errors"][0]["pointer"]
        == "/events/0/anonymous_id"
    )


@pytest.mark.parametrize(
    ("channel", "group"),
    [
        ({"source": "google", "medium": "cpc"}, "Paid Search"),
        ({"source": "facebook", "medium": "paid_social"}, "Paid Social"),
        ({"source": "newsletter", "medium": "email"}, "Email"),
        ({"source": "(direct)", "medium": "(none)"}, "Direct"),
        ({"source": "unknown", "medium": "unknown"}, "Unassigned"),
        ({"click_ids": {"gclid": "g"}}, "Paid Search"),
        ({"source": "google", "medium": "organic"}, "Organic Search"),
        ({"source": "x", "channel_group": "My Group"}, "My Group"),
    ],
)
def test_channel_group_is_derived_by_the_ga4_rules_when_absent(api, channel, group):
    secret = api.key()
    assert api.post_events(secret, [touch("e1", **channel)]).status_code == 200
    got = stored(api, "e1", secret)
    assert got["channel"]["channel_group"] == group
    assert got["rule_set"] == ("client" if "channel_group" in channel else "ga4_default_2026_11")


def test_get_events_by_user_pages_oldest_first(api):
    secret = api.key()
    api.post_events(
        secret, [touch(f"e{i}", user="pat") for i in range(5)] + [touch("x", user="other")]
    )
    seen, cursor = [], None
    while True:
        params = {"user_id": "pat", "limit": 2} | ({"starting_after": cursor} if cursor else {})
        page = api.client.get("/v1/events", headers=api.auth(secret), params=params).json()
        seen += [e["event_id"] for e in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [f"e{i}" for i in range(5)]


def test_times_with_other_offsets_compare_in_utc(api):
    secret = api.key()
    tokyo = timezone(timedelta(hours=9))
    event = touch("e1", at=NOW.astimezone(tokyo))
    assert api.post_events(secret, [event]).status_code == 200
    assert stored(api, "e1", secret)["timestamp"] == "2026-11-28T10:00:00.000000Z"
