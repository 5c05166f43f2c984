"""Journeys cut from the event columns equal `Journeys.from_events` on the reference frame.

`causality.api.columns.journeys.window_journeys` skips the event frame: on random
event logs (late identity links, matched and unmatched offline conversions, equal
timestamps, several conversion names, every window and grouping) its path table
equals ``Journeys.from_events(load_events(...)).by_path()`` array for array, after
every batch, and the attribution bodies of both routes are byte-identical.
"""

from __future__ import annotations

import gc
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from causality import Journeys, attribute
from causality.api.attribution_compute import compute
from causality.api.attribution_data import load_events
from causality.api.attribution_query import parse_query
from causality.api.columns.facts import LabelFacts
from causality.api.columns.journeys import FactsCache, window_input, window_journeys
from causality.api.columns.labels import Labels
from causality.errors import CausalityWarning
from causality.journeys import coded
from causality.journeys.coded import journeys_from_coded, stable_order
from tests.api.test_event_columns import QUERIES, random_batches


def reference(frame: pd.DataFrame, lookback_days: int) -> Journeys | None:
    """The path table the library builds from the SQL frame (None: it warns or raises)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CausalityWarning)
        try:
            return Journeys.from_events(frame, lookback=f"{lookback_days}D").by_path()
        except (CausalityWarning, ValueError):
            return None


def assert_same_journeys(mine: Journeys, ref: Journeys) -> None:
    assert mine.channels == ref.channels
    for name in ("codes", "offsets", "conversions", "value", "nulls"):
        np.testing.assert_array_equal(getattr(mine, name), getattr(ref, name), err_msg=name)
    assert mine.unattributed_conversions == ref.unattributed_conversions
    assert mine.unattributed_value == ref.unattributed_value
    assert mine.window == ref.window
    assert mine.lookback == ref.lookback
    # Grouping the table again (as models do) gives the same table.
    fresh = Journeys(
        channels=mine.channels,
        codes=mine.codes,
        offsets=mine.offsets,
        conversions=mine.conversions,
        value=mine.value,
        nulls=mine.nulls,
    ).by_path()
    for name in ("codes", "offsets", "conversions", "value", "nulls"):
        np.testing.assert_array_equal(getattr(mine.by_path(), name), getattr(fresh, name))


def check_queries(services, store, facts) -> int:
    """Compare every query; return how many the column route answered itself."""
    answered = 0
    for params in QUERIES:
        query = parse_query(list(params.items()), services.settings)
        with services.db.read() as conn:
            frame = load_events(conn, "test", query)
            snapshot = store.snapshot(conn, "test")
        mine = window_journeys(snapshot, query, facts)
        conversions = 0 if frame.empty else int((frame["event_type"] == "conversion").sum())
        ref = reference(frame, query.lookback_days) if conversions else None
        if mine is None:
            assert conversions and ref is None, params  # only inputs the library warns about
            continue
        answered += 1
        assert mine.conversions == conversions, params
        unmatched = 0 if frame.empty else frame["anonymous_id"].str.startswith("unmatched:").sum()
        assert mine.unmatched == unmatched, params
        if conversions == 0:
            assert mine.journeys is None
        else:
            assert_same_journeys(mine.journeys, ref)
    return answered


def consistent(batches: list[list[dict]]) -> list[list[dict]]:
    """The batches with every anonymous id linked to one user only (``a<k>`` to ``u<k % 8>``).

    Links still arrive late and through matched clicks, but no id is linked to two
    users, the case the library warns about (and the column route leaves to it).
    """
    for batch in batches:
        for event in batch:
            if "user_id" in event and "anonymous_id" in event:
                event["user_id"] = f"u{int(event['anonymous_id'][1:]) % 8}"
    return batches


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("links", ["consistent", "conflicting"])
def test_column_journeys_equal_from_events_after_every_batch(api, seed, links):
    secret = api.key()
    store, facts = api.services.columns, FactsCache()
    answered = 0
    batches = random_batches(seed)
    for batch in consistent(batches) if links == "consistent" else batches:
        assert api.post_events(secret, batch).status_code in (200, 207)
        answered += check_queries(api.services, store, facts)
    if links == "consistent":  # nothing for the library to warn about: always answered
        assert answered == len(QUERIES) * 6
    else:
        assert answered > 0


def test_attribution_bodies_are_byte_identical_on_both_routes(api, monkeypatch):
    """The column route (path table cut from codes) renders the SQL route's exact bytes."""
    from causality.api.columns import cache

    answered = []

    def spy(*args):
        cut = window_input(*args)
        answered.append(cut is not None)
        return cut

    monkeypatch.setattr(cache, "window_input", spy)
    secret = api.key()
    services = api.services
    for batch in consistent(random_batches(21, n_batches=4)):
        assert api.post_events(secret, batch).status_code in (200, 207)
        for model, extra in [
            ("markov", [("param.n_bootstrap", "30")]),
            ("markov", [("param.order", "2"), ("group_by", "source_medium")]),
            ("shapley", [("param.n_bootstrap", "10")]),
            ("last_click", [("conversion", "lead"), ("lookback_days", "2")]),
            ("time_decay", []),  # reads timestamps: always the frame route
        ]:
            params = [("model", model), ("start", "2026-11-22"), *extra]
            query = parse_query(params, services.settings)
            reference = compute(services.db, "test", query, services.settings)
            mine = compute(services.db, "test", query, services.settings, services.columns)
            assert mine.body == reference.body, params
            assert mine.marker == reference.marker
    assert answered and all(answered)


def test_path_tables_are_shared_until_the_events_change(api):
    secret = api.key()
    services, store = api.services, api.services.columns
    batches = consistent(random_batches(5, n_batches=2))
    assert api.post_events(secret, batches[0]).status_code in (200, 207)
    query = parse_query([("start", "2026-11-22")], services.settings)
    with services.db.read() as conn:
        snapshot = store.snapshot(conn, "test")
    first = store.journeys.get("test", snapshot, query)
    assert first is not None and first.journeys is not None
    # Another model or parameter on the same data and window: the same table.
    other = parse_query([("start", "2026-11-22"), ("model", "shapley")], services.settings)
    assert store.journeys.get("test", snapshot, other) is first
    assert api.post_events(secret, batches[1]).status_code in (200, 207)
    with services.db.read() as conn:
        newer = store.snapshot(conn, "test")
    # The following thread cuts the windows it keeps ready again from the new snapshot ...
    store.journeys.refresh_share = 1e9  # no throttling in the test
    assert store.journeys.ready("test", snapshot, query)
    assert not store.journeys.ready("test", newer, query)
    assert store.journeys.keep_warm("test", newer, [query]) == 1
    assert store.journeys.ready("test", newer, query)
    refreshed = store.journeys.get("test", newer, query)
    assert refreshed is not first
    assert store.journeys.keep_warm("test", newer, [query]) == 0  # ... once
    frame = event_frame_of(services, query)
    assert_same_journeys(refreshed.journeys, reference(frame, query.lookback_days))


def test_following_thread_keeps_the_default_path_table_ready(make_api):
    api = make_api(rate_limits=False, event_columns_follow_s=0.05)
    secret = api.key()
    batches = consistent(random_batches(9, n_batches=2))
    services, store = api.services, api.services.columns
    query = parse_query([], services.settings)  # what GET /v1/attribution asks by default
    for batch in batches:
        assert api.post_events(secret, batch).status_code in (200, 207)
        deadline = time.monotonic() + 30
        while True:
            with services.db.read() as conn:
                snapshot = store.snapshot(conn, "test")
            if store.journeys.ready("test", snapshot, query):
                break
            assert time.monotonic() < deadline, "the default path table was never cut"
            time.sleep(0.05)
    cut = store.journeys.get("test", snapshot, query)
    assert_same_journeys(cut.journeys, reference(event_frame_of(services, query), 30))


def event_frame_of(services, query) -> pd.DataFrame:
    with services.db.read() as conn:
        return load_events(conn, "test", query)


def test_label_facts_follow_the_rules_of_from_events():
    labels = Labels()
    texts = ["b", "", " \x1c\u3000", "a", " x ", "unmatched:e1", "\xa0", "é", "B"]
    labels.encode(np.array(texts, dtype=object))
    facts = FactsCache()
    # Ranks sort as Python (and pandas) sort strings; blank is what str.strip() empties.
    assert [texts[i] for i in np.argsort(facts.rank(labels, len(texts)))] == sorted(texts)
    assert facts.blank(labels, len(texts)).tolist() == [t.strip() == "" for t in texts]
    assert facts.unmatched(labels, len(texts)).tolist() == [
        t.startswith("unmatched:") for t in texts
    ]
    # New labels: old facts kept, ranks recomputed in the same relative order.
    more = [*texts, "0", "  "]
    labels.encode(np.array(more[len(texts) :], dtype=object))
    assert [more[i] for i in np.argsort(facts.rank(labels, len(more)))] == sorted(more)
    assert facts.blank(labels, len(more)).tolist() == [t.strip() == "" for t in more]
    # The facts go with their dictionary.
    del labels
    gc.collect()
    assert len(facts) == 0


def test_ranks_of_a_few_new_labels_are_placed_as_a_full_sort_places_them(monkeypatch):
    rng = np.random.default_rng(4)
    alphabet = np.array(list("abAB é\u3000z0\x1c"))
    texts = list(
        dict.fromkeys("".join(rng.choice(alphabet, rng.integers(0, 8))) for _ in range(9000))
    )
    labels, facts = Labels(), LabelFacts()
    labels.encode(np.array(texts[:2000], dtype=object))
    facts.rank(labels, 2000)
    placed = []
    inserted = LabelFacts._inserted
    monkeypatch.setattr(
        LabelFacts, "_inserted", lambda self, *args: placed.append(1) or inserted(self, *args)
    )
    for step in (1, 7, 60, 125, 1000, 3):  # 1000 is past INSERT_SHARE: a full sort
        size = len(labels)
        labels.encode(np.array(texts[size : size + step], dtype=object))
        seen = texts[: len(labels)]
        rank = facts.rank(labels, len(labels))
        assert [seen[i] for i in np.argsort(rank)] == sorted(seen)
    assert len(placed) == 5


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("lookback", ["2h", None])
def test_coded_journeys_equal_from_events_on_random_logs(seed, lookback):
    """`journeys_from_coded` on codes equals `Journeys.from_events` on the same log as text."""
    rng = np.random.default_rng(seed)
    n = 400
    users = np.array([f"u{i}" for i in rng.integers(0, 30, n)], dtype=object)
    times = np.sort(rng.integers(0, 12, n)) * 1_800 * 10**9  # many equal instants
    is_conv = rng.random(n) < 0.2
    names = np.array(["Email", "Search", "Social", "Direct"], dtype=object)
    channel = rng.integers(0, len(names), n)
    value = np.round(rng.uniform(0, 50, n), 2)
    frame = pd.DataFrame(
        {
            "user_id": users,
            "timestamp": pd.to_datetime(times, utc=True),
            "event_type": np.where(is_conv, "conversion", "touch"),
            "channel": names[channel],
            "value": value,
        }
    )
    ref = Journeys.from_events(frame, lookback=lookback)
    used = np.unique(channel[~is_conv])  # sorted names of touched channels, as codes
    rank = np.full(len(names), -1)
    rank[used] = np.argsort(np.argsort(names[used]))
    person = pd.factorize(pd.Series(users), sort=True)[0]
    mine = journeys_from_coded(
        person,
        times,
        is_conv,
        rank[channel],
        sorted(names[used]),
        value,
        lookback=None if lookback is None else pd.Timedelta(lookback),
    )
    for name in ("codes", "offsets", "conversions", "value", "nulls"):
        np.testing.assert_array_equal(getattr(mine, name), getattr(ref, name), err_msg=name)
    assert mine.channels == ref.channels
    assert mine.unattributed_conversions == ref.unattributed_conversions
    assert mine.unattributed_value == ref.unattributed_value
    assert mine.window == ref.window


def test_stable_order_is_numpys_stable_argsort():
    rng = np.random.default_rng(0)
    for high in (3, 70_000, 2**40):
        keys = rng.integers(0, high, 5_000)
        np.testing.assert_array_equal(stable_order(keys), np.argsort(keys, kind="stable"))


_ORDER_KEYS = [
    [0],
    [5, 5, 5, 5],
    [2, 0, 2, 1, 0, 2],
    list(range(9, -1, -1)),
    np.random.default_rng(1).integers(0, 40, 3_000).tolist(),
    np.random.default_rng(2).integers(0, 200_000, 3_000).tolist(),
]


@pytest.mark.parametrize(
    ("order", "keys"),
    [(coded._counting_order, keys) for keys in _ORDER_KEYS]
    + [(coded._radix_order, keys) for keys in [*_ORDER_KEYS, [2**33, 7, 2**33, 0, 2**17 + 1, 7]]],
)
def test_both_stable_orders_equal_numpys(order, keys):
    keys = np.asarray(keys, dtype=np.int64)
    np.testing.assert_array_equal(order(keys), np.argsort(keys, kind="stable"))


def test_path_tables_are_freed_without_the_cycle_collector(api):
    # A table holding itself (or its models' matrices) in a reference cycle stays in
    # memory until the cyclic collector runs: gigabytes on a server with 10M events.
    import weakref

    secret = api.key()
    services, store = api.services, api.services.columns
    batch = consistent(random_batches(6, n_batches=1))[0]
    assert api.post_events(secret, batch).status_code in (200, 207)
    query = parse_query([("start", "2026-11-22")], services.settings)
    with services.db.read() as conn:
        snapshot = store.snapshot(conn, "test")
    cut = window_journeys(snapshot, query, FactsCache())
    assert cut is not None and cut.journeys is not None
    journeys = cut.journeys
    assert journeys.by_path() is journeys  # merged already: no second grouping
    attribute(journeys, "markov", n_bootstrap=3)  # caches its chain structure on the table
    alive = weakref.ref(journeys)
    gc.disable()
    try:
        del cut, journeys
        assert alive() is None
    finally:
        gc.enable()


def _synthetic_snapshot(user_codes: np.ndarray, user_labels: list[str]):
    from causality.api.columns.fetch import EventLabels
    from causality.api.columns.store import Snapshot
    from causality.api.columns.table import CONVERSION, TOUCH, EventColumns

    n = len(user_codes)
    conv = np.arange(n) % 3 == 2
    labels = EventLabels()
    labels.channel_group.encode(np.array(["Email", "Direct"], dtype=object))
    labels.names.encode(np.array(["purchase"], dtype=object))
    labels.users.encode(np.array(user_labels, dtype=object))
    now = 1_790_000_000_000_000
    columns = EventColumns(
        {
            "ts": now - 1_000_000 * np.arange(n, 0, -1, dtype=np.int64),
            "kind": np.where(conv, CONVERSION, TOUCH).astype(np.int8),
            "name": np.where(conv, 0, -1).astype(np.int32),
            "user": np.asarray(user_codes, dtype=np.int32),
            "user_matched": np.zeros(n, bool),
            "anon": np.full(n, -1, np.int32),
            "linkable": np.zeros(n, bool),
            "channel_group": np.where(conv, -1, np.arange(n) % 2).astype(np.int32),
            "source": np.full(n, -1, np.int32),
            "medium": np.full(n, -1, np.int32),
            "campaign": np.full(n, -1, np.int32),
            "value": np.where(conv, 10.0, np.nan),
            "offline": np.zeros(n, bool),
        }
    )
    empty = np.empty(0, np.int32)
    return Snapshot((columns,), empty, labels, len(labels.users), 0), now


def test_a_blank_user_id_in_the_window_leaves_the_window_to_from_events():
    from causality.api.attribution_query import AttributionQuery

    def query(now: int) -> AttributionQuery:
        day = 86_400 * 1_000_000
        return AttributionQuery(
            model="markov",
            params={},
            start_us=now - day,
            end_us=now + day,
            timezone="UTC",
            conversion="purchase",
            group_by="channel_group",
            lookback_days=30,
            currency="USD",
        )

    labels = ["b", " ", "a"]
    # A blank id exists but no row of the window uses it: cut from the codes.
    snapshot, now = _synthetic_snapshot(np.array([0, 0, 0, 2, 2, 2]), labels)
    cut = window_input(snapshot, query(now), FactsCache())
    assert cut is not None and cut.channels == ("Direct", "Email")
    np.testing.assert_array_equal(cut.codes.at(slice(None)), [1, 0, -1, 0, 1, -1])  # Email, Direct
    # A row uses it: from_events decides (it reads a blank id as missing and warns).
    snapshot, now = _synthetic_snapshot(np.array([0, 0, 0, 1, 1, 1]), labels)
    assert window_input(snapshot, query(now), FactsCache()) is None
