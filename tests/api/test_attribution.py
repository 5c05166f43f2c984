"""``GET /v1/attribution``: known answers, invariants, caching, the 2 s rule, isolation."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import causality as ca
from tests.api.conftest import NOW, conversion, touch

WINDOW = {"start": "2026-11-01", "end": "2026-12-01"}


def attribution(api, secret, **params):
    query = WINDOW | {"model": "last_click", "param.n_bootstrap": "20"} | params
    return api.client.get("/v1/attribution", headers=api.auth(secret), params=query)


def _hand_data() -> list[dict]:
    day = timedelta(days=1)
    return [
        touch("t1", user="u1", at=NOW - 3 * day, source="newsletter", medium="email"),
        touch("t2", user="u1", at=NOW - 2 * day),
        conversion("c1", user="u1", at=NOW - day, value="10.00"),
        touch("t3", user="u2", at=NOW - 2 * day),
        conversion("c2", user="u2", at=NOW - day, value="20.50"),
        touch("t4", user="u3", at=NOW - 2 * day, source="cnn", medium="display"),
        conversion("c3", user="u4", at=NOW - day, value="5.00"),
    ]


@pytest.fixture
def loaded(api):
    secret = api.key()
    assert api.post_events(secret, _hand_data()).status_code == 200
    return api, secret


def test_last_click_matches_the_hand_computed_answer(loaded):
    _api, _secret = loaded
    response = attribution(*loaded, **{"param.n_bootstrap": "0"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "attribution_result" and body["kind"] == "allocation"
    assert body["totals"] == {
        "conversions": 3.0,
        "revenue": "35.50",
        "unattributed_conversions": 1.0,
        "journeys": 3,
    }
    rows = {r["key"]: r for r in body["rows"]}
    assert rows["Paid Search"]["conversions"] == 2.0 and rows["Paid Search"]["revenue"] == "30.50"
    assert rows.get("Email", {"conversions": 0.0})["conversions"] == 0.0
    assert body["rule_set"] == "ga4_default_2026_11" and body["library_version"] == ca.__version__
    assert body["params"]["seed"] == 0
    assert body["data_window"] == {
        "start": "2026-11-01T00:00:00.000000Z",
        "end": "2026-12-01T00:00:00.000000Z",
    }
    assert body["data_freshness"]["last_event_received_at"] == "2026-11-28T10:00:00.000000Z"
    assert {w["code"] for w in body["warnings"]} == {"low_sample"}


def test_rows_match_the_library_on_the_same_events(loaded):
    api, secret = loaded
    body = attribution(api, secret, model="linear", **{"param.n_bootstrap": "0"}).json()
    linear = {r["key"]: r["conversions"] for r in body["rows"] if r["conversions"]}
    # u1: Email then Paid Search -> half each; u2: Paid Search.
    assert linear == pytest.approx({"Email": 0.5, "Paid Search": 1.5})
    rows = [
        (
            e.get("user_id"),
            e["timestamp"],
            e["event_type"],
            {"google": "Paid Search", "newsletter": "Email", "cnn": "Display"}.get(
                e.get("channel", {}).get("source")
            ),
            float(e.get("conversion", {}).get("value", "nan")),
        )
        for e in _hand_data()
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "channel", "value"])
    library = ca.attribute(ca.Journeys.from_events(frame, lookback="30D"), "linear", n_bootstrap=0)
    expected = library.to_dict()["table"]
    assert [r["key"] for r in body["rows"]] == [r["channel"] for r in expected]
    assert [r["conversions"] for r in body["rows"]] == [r["conversions"] for r in expected]
    assert [r["share"] for r in body["rows"]] == [r["share"] for r in expected]


def test_group_by_source_medium_and_campaign(loaded):
    api, secret = loaded
    by_source = attribution(api, secret, group_by="source_medium").json()
    assert {r["key"]: r["conversions"] for r in by_source["rows"]} == {
        "google / cpc": 2.0,
        "newsletter / email": 0.0,
        "cnn / display": 0.0,
    }
    by_campaign = attribution(api, secret, group_by="campaign").json()
    assert {r["key"] for r in by_campaign["rows"]} == {"(not set)"}


def test_same_query_gives_identical_bytes_and_recomputes_identically(loaded):
    api, secret = loaded
    first = attribution(api, secret, model="markov")
    second = attribution(api, secret, model="markov")
    assert first.content == second.content
    api.services.attribution_cache.clear()
    with api.services.db.write() as conn:
        conn.exec_driver_sql("DELETE FROM jobs")
    third = attribution(api, secret, model="markov").json()
    for field in ("rows", "totals", "baseline", "params"):
        assert third[field] == first.json()[field]


def test_a_new_event_in_the_window_invalidates_the_cache(loaded):
    api, secret = loaded
    before = attribution(api, secret)
    assert attribution(api, secret).content == before.content
    outside = touch("old", user="u9", at=NOW - timedelta(days=6))
    api.clock.advance(seconds=1)
    # In the lookback before the window's start only when the window starts later:
    narrow = {"start": "2026-11-27", "end": "2026-12-01", "lookback_days": "1"}
    cached = attribution(api, secret, **narrow)
    assert api.post_events(secret, [outside]).status_code == 200
    assert attribution(api, secret, **narrow).content == cached.content
    assert api.post_events(secret, [conversion("c9", user="u2", at=NOW)]).status_code == 200
    after = attribution(api, secret).json()
    assert after["totals"]["conversions"] == 4.0
    assert after["computed_at"] != before.json()["computed_at"]


def test_a_slow_computation_answers_202_with_a_run(make_api):
    api = make_api(rate_limits=False, attribution_budget_s=0.0)
    secret = api.key()
    api.post_events(secret, _hand_data())
    response = attribution(api, secret)
    assert response.status_code == 202
    assert response.headers["Retry-After"] == "2"
    location = response.headers["Location"]
    assert location.startswith("/v1/attribution/runs/run_")
    for _ in range(100):
        run = api.client.get(location, headers=api.auth(secret)).json()
        if run["status"] == "succeeded":
            break
        time.sleep(0.05)
    assert run["status"] == "succeeded" and run["object"] == "attribution_run"
    assert run["result"]["totals"]["conversions"] == 3.0
    cached = attribution(api, secret)
    assert cached.status_code == 200 and cached.json() == run["result"]
    listed = api.client.get("/v1/attribution/runs", headers=api.auth(secret)).json()
    assert listed["data"][0]["id"] == location.rsplit("/", 1)[1]


def test_an_empty_window_is_200_with_no_data(api):
    secret = api.key()
    body = attribution(api, secret).json()
    assert body["rows"] == [] and body["totals"]["conversions"] == 0
    assert [w["code"] for w in body["warnings"]] == ["no_data"]


def test_unknown_model_lists_the_available_ones(loaded):
    api, secret = loaded
    response = attribution(api, secret, model="astrology")
    assert response.status_code == 400 and response.json()["code"] == "unknown_model"
    assert response.json()["available_models"] == ca.available_models()


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"param.order": "two", "model": "markov"}, "param.order"),
        ({"param.nope": "1"}, "param.nope"),
        ({"ci_level": "0.999"}, "ci_level"),
        ({"lookback_days": "91"}, "lookback_days"),
        ({"group_by": "weather"}, "group_by"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-11-02T00:00:00"}, "start"),
        ({"start": "2026-12-02"}, "start"),
        ({"surprise": "1"}, "surprise"),
    ],
)
def test_bad_parameters_are_400(loaded, params, param):
    api, secret = loaded
    response = attribution(api, secret, **params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_parameter" and response.json()["param"] == param


def test_other_currencies_are_refused(loaded):
    response = attribution(*loaded, currency="EUR")
    assert response.status_code == 400 and response.json()["code"] == "currency_mismatch"


def test_model_parameters_are_converted_and_reported(loaded):
    body = attribution(*loaded, model="markov", **{"param.order": "2"}).json()
    assert body["params"]["order"] == 2 and body["params"]["seed"] == 0


def test_models_are_listed_from_the_registry(api):
    secret = api.key()
    body = api.client.get("/v1/attribution/models", headers=api.auth(secret)).json()
    assert [m["name"] for m in body["data"]] == ca.available_models()
    markov = next(m for m in body["data"] if m["name"] == "markov")
    assert markov["params"]["properties"]["order"]["type"] == "integer"


def test_two_anonymous_ids_and_one_user_make_one_journey(api):
    secret = api.key()
    day = timedelta(days=1)
    events = [
        {**touch("t1", at=NOW - 3 * day), "user_id": None, "anonymous_id": "a1"},
        {
            **touch("t2", at=NOW - 2 * day, source="newsletter", medium="email"),
            "user_id": None,
            "anonymous_id": "a2",
        },
        {
            "event_id": "i1",
            "event_type": "identify",
            "timestamp": (NOW - day).isoformat(),
            "user_id": "carol",
            "anonymous_id": "a1",
        },
        {
            "event_id": "i2",
            "event_type": "identify",
            "timestamp": (NOW - day).isoformat(),
            "user_id": "carol",
            "anonymous_id": "a2",
        },
        conversion("c1", user="carol", at=NOW),
    ]
    for event in events:
        if event.get("user_id") is None:
            event.pop("user_id", None)
    assert api.post_events(secret, events).status_code == 200
    body = attribution(api, secret, model="linear").json()
    assert body["totals"]["journeys"] == 1
    assert {r["key"]: r["conversions"] for r in body["rows"]} == pytest.approx(
        {"Paid Search": 0.5, "Email": 0.5}
    )


def test_offline_conversions_join_by_click_id_or_count_as_unattributed(api):
    secret = api.key()
    day = timedelta(days=1)
    matched = conversion("c1", user=None, at=NOW, offline=True)
    matched["channel"] = {"click_ids": {"gclid": "G-1"}}
    lost = conversion("c2", user=None, at=NOW, offline=True)
    lost["channel"] = {"click_ids": {"gclid": "G-unknown"}}
    events = [touch("t1", user="dan", at=NOW - 2 * day, click_ids={"gclid": "G-1"}), matched, lost]
    assert api.post_events(secret, events).status_code == 200
    body = attribution(api, secret).json()
    assert (
        body["totals"]["conversions"] == 2.0 and body["totals"]["unattributed_conversions"] == 1.0
    )
    assert [(r["key"], r["conversions"]) for r in body["rows"]] == [("Paid Search", 1.0)]
    assert "unmatched_offline_conversions" in {w["code"] for w in body["warnings"]}


def test_test_mode_events_are_invisible_to_live_keys(api):
    test, live = api.key(mode="test"), api.key(mode="live")
    assert api.post_events(test, _hand_data()).status_code == 200
    assert attribution(api, live).json()["rows"] == []
    assert api.client.get("/v1/events/c1", headers=api.auth(live)).status_code == 404
    assert attribution(api, test).json()["totals"]["conversions"] == 3.0


def test_test_data_wipe_is_for_test_keys_only(api):
    test, live = api.key(mode="test"), api.key(mode="live")
    api.post_events(test, _hand_data())
    api.post_events(live, [touch("L1")])
    forbidden = api.client.delete("/v1/test-data", headers=api.auth(live))
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "live_key_forbidden"
    wiped = api.client.delete("/v1/test-data", headers=api.auth(test))
    assert wiped.status_code == 200 and wiped.json()["deleted"] == 7
    assert attribution(api, test).json()["rows"] == []
    assert api.client.get("/v1/events/L1", headers=api.auth(live)).status_code == 200


def test_user_erasure_removes_their_events_and_invalidates(api):
    secret = api.key()
    api.post_events(secret, _hand_data())
    before = attribution(api, secret).json()
    erased = api.client.delete("/v1/users/u1", headers=api.auth(secret))
    assert erased.status_code == 200 and erased.json()["deleted"] == 3
    after = attribution(api, secret).json()
    assert after["totals"]["conversions"] == before["totals"]["conversions"] - 1
    assert api.client.get("/v1/events/t1", headers=api.auth(secret)).status_code == 404


journeys_strategy = st.lists(
    st.tuples(
        st.lists(
            st.sampled_from(["google/cpc", "newsletter/email", "cnn/display", "(direct)/(none)"]),
            min_size=0,
            max_size=4,
        ),
        st.booleans(),
        st.integers(min_value=0, max_value=500),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    journeys=journeys_strategy,
    model=st.sampled_from(["last_click", "linear", "markov", "position_based"]),
)
def test_allocation_rows_sum_to_attributed_conversions(make_api, journeys, model):
    api = make_api(rate_limits=False)
    secret = api.key()
    events = []
    for n, (path, converts, cents) in enumerate(journeys):
        for k, channel in enumerate(path):
            source, medium = channel.split("/")
            events.append(
                touch(
                    f"t{n}_{k}",
                    user=f"p{n}",
                    at=NOW - timedelta(hours=10 - k),
                    source=source,
                    medium=medium,
                )
            )
        if converts:
            events.append(conversion(f"c{n}", user=f"p{n}", at=NOW, value=f"{cents / 100:.2f}"))
    if events:
        assert api.post_events(secret, events).status_code == 200
    body = attribution(api, secret, model=model).json()
    totals = body["totals"]
    credited = sum(r["conversions"] for r in body["rows"])
    assert credited == pytest.approx(
        totals["conversions"] - totals["unattributed_conversions"], abs=1e-6
    )
    for row in body["rows"]:
        assert (
            row["conversions_lower"] <= row["conversions"] + 1e-9 <= row["conversions_upper"] + 2e-9
        )
    json.dumps(body)  # finite numbers only


def test_conversions_without_touches_are_200_and_unattributed(api):
    secret = api.key()
    api.post_events(secret, [conversion("c1", user="lone"), touch("t1", user="other")])
    body = attribution(api, secret).json()
    assert body["rows"] == [] and body["totals"]["unattributed_conversions"] == 1.0
    assert [w["code"] for w in body["warnings"]] == ["no_attributable_conversions"]
