"""The in-memory event columns give exactly what the SQL reference reads.

`causality.api.attribution_data.load_events` (SQL) stays the reference: on random
event logs (identities linked late, offline conversions matched by click id or not,
equal timestamps, repeated ids and orders, several conversion names) the frame cut
from the columns equals it row for row, and the rendered attribution is
byte-identical, after every batch, a deletion, writes by another process, and past
the memory limit.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causality.api.attribution_compute import compute, event_frame
from causality.api.attribution_data import load_events
from causality.api.attribution_query import parse_query
from causality.api.columns.store import EventStore
from causality.api.columns.table import BYTES_PER_EVENT
from causality.api.services import Services
from tests.api.conftest import NOW

CHANNELS = [
    {"source": "google", "medium": "cpc"},
    {"source": "google", "medium": "cpc", "campaign": "bf"},
    {"source": "newsletter", "medium": "email", "campaign": "nov"},
    {"source": "facebook", "medium": "paid_social"},
    {"referrer": "https://www.example.org/post"},
    {"channel_group": "Partners"},
    {"medium": "display"},
]
QUERIES = [
    {"start": "2026-11-25", "end": "2026-11-29"},
    {"start": "2026-11-27T00:00:00Z", "end": "2026-11-28T06:00:00Z", "lookback_days": "1"},
    {"group_by": "source_medium", "lookback_days": "2"},
    {"group_by": "campaign", "conversion": "lead"},
    {"start": "2026-11-01", "end": "2026-12-01", "conversion": "signup"},
]


def random_batches(seed: int, n_batches: int = 6, size: int = 60) -> list[list[dict]]:
    """Event batches over ~25 people exercising every rule the frame depends on."""
    rng = np.random.default_rng(seed)
    instants = [NOW - timedelta(hours=float(h)) for h in rng.uniform(0, 160, 12)]
    clicks: list[str] = []
    batches = []
    for b in range(n_batches):
        batch = []
        for k in range(size):
            at = (
                instants[int(rng.integers(len(instants)))]  # equal timestamps
                if rng.random() < 0.3
                else NOW - timedelta(hours=float(rng.uniform(0, 165)))
            )
            user = f"u{int(rng.integers(8))}" if rng.random() < 0.6 else None
            anon = f"a{int(rng.integers(16))}" if user is None or rng.random() < 0.3 else None
            event: dict = {
                "event_id": f"e{seed}-{b}-{k}" if rng.random() < 0.95 else f"e{seed}-0-{k}",
                "timestamp": at.isoformat(),
            }
            ids = {"user_id": user, "anonymous_id": anon}
            event.update({key: value for key, value in ids.items() if value})
            roll = rng.random()
            if roll < 0.6:
                event.update(
                    event_type="touch", channel=dict(CHANNELS[rng.integers(len(CHANNELS))])
                )
                if rng.random() < 0.2:
                    clicks.append(f"G{seed}-{b}-{k}")
                    event["channel"]["click_ids"] = {"gclid": clicks[-1]}
            elif roll < 0.68:
                event.update(
                    event_type="identify",
                    user_id=f"u{int(rng.integers(8))}",
                    anonymous_id=f"a{int(rng.integers(16))}",
                )
            else:
                name = "purchase" if rng.random() < 0.7 else "lead"
                conv = {"name": name, "value": f"{rng.uniform(1, 90):.2f}"}
                if rng.random() < 0.15:  # a conversion without a value counts as 0
                    del conv["value"]
                if rng.random() < 0.3:
                    conv["order_id"] = f"o{int(rng.integers(30))}"
                event.update(event_type="conversion", conversion=conv)
                if rng.random() < 0.3:  # offline: up to 90 days old, maybe a click id only
                    conv.update(offline=True)
                    event["timestamp"] = (
                        NOW - timedelta(days=float(rng.uniform(0, 20)))
                    ).isoformat()
                    if rng.random() < 0.5:
                        event.pop("user_id", None)
                        event.pop("anonymous_id", None)
                        known = clicks and rng.random() < 0.7
                        gclid = clicks[rng.integers(len(clicks))] if known else f"X{b}-{k}"
                        event["channel"] = {"click_ids": {"gclid": gclid}}
            batch.append(event)
        batches.append(batch)
    return batches


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing strings as None, text columns as object (the reference's dtypes depend on
    which rows SQL returned before the window cut, not on the frame's content)."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object or isinstance(out[name].dtype, pd.StringDtype):
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


def assert_same_frames(services: Services, store: EventStore, mode: str = "test") -> None:
    for params in QUERIES:
        query = parse_query(list(params.items()), services.settings)
        with services.db.read() as conn:
            reference = load_events(conn, mode, query)
            mine = event_frame(conn, mode, query, store)
        if reference.empty:
            assert mine.empty, params
            continue
        pd.testing.assert_frame_equal(normalised(mine), normalised(reference), obj=str(params))


def assert_same_results(services: Services, store: EventStore, mode: str = "test") -> None:
    for model in ("last_click", "markov"):
        params = [("model", model), ("param.n_bootstrap", "20"), ("start", "2026-11-22")]
        query = parse_query(params, services.settings)
        reference = compute(services.db, mode, query, services.settings)
        mine = compute(services.db, mode, query, services.settings, store)
        assert mine.body == reference.body and mine.marker == reference.marker


@pytest.mark.parametrize("seed", range(4))
def test_columns_equal_the_sql_reference_after_every_batch(api, seed):
    secret = api.key()
    store = api.services.columns
    for batch in random_batches(seed):
        response = api.post_events(secret, batch)
        assert response.status_code in (200, 207), response.text
        assert_same_frames(api.services, store)
    assert_same_results(api.services, store)
    # A fresh store rebuilt in one read equals the one caught up batch by batch.
    assert_same_frames(api.services, EventStore(max_events=10_000))


def test_deleting_a_user_rebuilds_the_columns(api):
    secret = api.key()
    for batch in random_batches(7, n_batches=3):
        assert api.post_events(secret, batch).status_code in (200, 207)
    store = api.services.columns
    assert_same_frames(api.services, store)
    epoch = store.modes["test"].synced.epoch
    deleted = api.client.delete("/v1/users/u3", headers=api.auth(secret)).json()["deleted"]
    assert deleted > 0
    assert_same_frames(api.services, store)
    assert store.modes["test"].synced.epoch == epoch + 1
    api.client.delete("/v1/test-data", headers=api.auth(secret))
    with api.services.db.read() as conn:
        assert len(store.snapshot(conn, "test")) == 0


def test_rows_written_by_another_process_are_caught_up(api, make_api):
    secret = api.key()
    batches = random_batches(11, n_batches=4)
    assert api.post_events(secret, batches[0]).status_code in (200, 207)
    store = api.services.columns
    assert_same_frames(api.services, store)
    # A second app on the same database stands in for another server process.
    other = make_api(rate_limits=False)
    for batch in batches[1:]:
        assert other.post_events(secret, batch).status_code in (200, 207)
    assert_same_frames(api.services, store)
    with api.services.db.read() as conn:
        mine = len(store.snapshot(conn, "test"))
        stored = conn.exec_driver_sql(
            "SELECT count(*) FROM events WHERE mode = 'test' AND event_type != 'identify'"
        ).scalar()
    assert mine == stored


def test_a_mode_over_the_limit_is_read_with_sql(api):
    secret = api.key()
    for batch in random_batches(3, n_batches=2):
        assert api.post_events(secret, batch).status_code in (200, 207)
    small = EventStore(max_events=50)
    with api.services.db.read() as conn:
        assert small.snapshot(conn, "test") is None
    assert small.status()["test"] == {"ready": False, "events": 0, "bytes": 0}
    assert_same_results(api.services, small)


def test_following_thread_loads_the_columns_without_a_query(make_api):
    api = make_api(rate_limits=False, event_columns_follow_s=0.05)
    secret = api.key()
    assert api.post_events(secret, random_batches(5, n_batches=1)[0]).status_code in (200, 207)
    with api.services.db.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT count(*) FROM events WHERE mode = 'test' AND event_type != 'identify'"
        ).scalar()
    deadline = time.monotonic() + 10
    status = api.services.columns.status()["test"]
    while status["events"] != stored and time.monotonic() < deadline:
        time.sleep(0.05)
        status = api.services.columns.status()["test"]
    assert status["ready"] and status["events"] == stored
    assert status["bytes"] >= stored * BYTES_PER_EVENT


def test_attribution_answers_from_the_columns_and_sees_new_events(api):
    secret = api.key()
    for batch in random_batches(2, n_batches=2):
        assert api.post_events(secret, batch).status_code in (200, 207)
    params = {"model": "last_click", "param.n_bootstrap": "0", "start": "2026-11-22"}
    first = api.client.get("/v1/attribution", headers=api.auth(secret), params=params).json()
    later = random_batches(9, n_batches=1)[0]
    assert api.post_events(secret, later).status_code in (200, 207)
    second = api.client.get("/v1/attribution", headers=api.auth(secret), params=params).json()
    assert second["totals"] != first["totals"]
    query = parse_query(list(params.items()), api.services.settings)
    reference = compute(api.services.db, "test", query, api.services.settings)
    assert second["rows"] == json.loads(reference.body)["rows"]


def test_a_failed_load_is_retried_by_the_next_query(api, monkeypatch):
    import causality.api.columns.store as store_module

    secret = api.key()
    assert api.post_events(secret, random_batches(4, n_batches=1)[0]).status_code in (200, 207)
    original = store_module.fetch_events

    def failing(*args, **kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(store_module, "fetch_events", failing)
    store = EventStore(max_events=10_000)
    with pytest.raises(RuntimeError), api.services.db.read() as conn:
        store.snapshot(conn, "test")
    monkeypatch.setattr(store_module, "fetch_events", original)
    assert_same_frames(api.services, store)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30), max_size=40),
    st.lists(st.integers(0, 30), max_size=40),
)
def test_merging_columns_orders_rows_by_time_then_primary_key(mine, later):
    from causality.api.columns.table import FIELDS, EventColumns

    def columns(ts: list[int], first_pk: int) -> EventColumns:
        ts = np.sort(np.array(ts, dtype=np.int64))
        pk = np.arange(first_pk, first_pk + len(ts))  # stands in every other column
        return EventColumns({name: pk.astype(dtype) for name, dtype in FIELDS.items()} | {"ts": ts})

    old, new = columns(mine, 0), columns(later, len(mine))
    merged = old.merge(new)
    # Reference: every row sorted by (ts, pk); later rows have the larger pks.
    ts = np.concatenate([old["ts"], new["ts"]])
    pk = np.concatenate([old["user"], new["user"]])
    order = np.lexsort((pk, ts))
    for name in FIELDS:
        want = np.concatenate([old[name], new[name]])[order]
        np.testing.assert_array_equal(merged[name], want, err_msg=name)
