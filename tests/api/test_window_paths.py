"""Path tables updated for new events equal path tables built from scratch, exactly.

`causality.api.columns.paths.WindowPaths.update` cuts again only the journeys of the
persons new events touch. On random event streams posted in small batches (late and
out-of-order events, offline conversions matched by click id, identify events that
stitch anonymous ids to users late, conversions that split journeys, several
conversion names) and every query window, lookback and grouping, the cached table
after each batch equals the one `window_journeys` builds from scratch from the same
snapshot, array for array, and the library's own ``Journeys.from_events`` result.
"""

from __future__ import annotations

import numpy as np
import pytest

from causality.api.attribution_compute import compute
from causality.api.attribution_query import parse_query
from causality.api.columns import store as store_module
from causality.api.columns.journeys import FactsCache, window_journeys
from causality.api.columns.paths import WindowPaths
from tests.api.test_event_columns import QUERIES, random_batches
from tests.api.test_window_journeys import (
    assert_same_journeys,
    consistent,
    event_frame_of,
    reference,
)


def small_batches(batches: list[list[dict]], seed: int) -> list[list[dict]]:
    """Every batch split at random into pieces of 1 to 20 events."""
    rng = np.random.default_rng(seed)
    pieces = []
    for batch in batches:
        cuts = np.cumsum(rng.integers(1, 21, size=len(batch)))
        cuts = cuts[cuts < len(batch)]
        pieces += [piece for piece in np.split(np.array(batch, dtype=object), cuts) if len(piece)]
    return [list(piece) for piece in pieces]


@pytest.fixture
def updates(monkeypatch) -> list[bool]:
    """Records, per call of `WindowPaths.update`, whether it updated (not rebuilt)."""
    done: list[bool] = []
    update = WindowPaths.update

    def spy(self, *args):
        out = update(self, *args)
        done.append(out is not None)
        return out

    monkeypatch.setattr(WindowPaths, "update", spy)
    return done


def assert_cached_equal_scratch(services, store) -> None:
    for params in QUERIES:
        query = parse_query(list(params.items()), services.settings)
        with services.db.read() as conn:
            snapshot = store.snapshot(conn, "test")
        mine = store.journeys.get("test", snapshot, query)
        scratch = window_journeys(snapshot, query, FactsCache())
        if scratch is None:
            assert mine is None, params
            continue
        assert mine is not None, params
        assert (mine.conversions, mine.unmatched) == (scratch.conversions, scratch.unmatched)
        if scratch.journeys is None:
            assert mine.journeys is None, params
            continue
        assert_same_journeys(mine.journeys, scratch.journeys)
        ref = reference(event_frame_of(services, query), query.lookback_days)
        assert_same_journeys(mine.journeys, ref)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("links", ["consistent", "conflicting"])
def test_updated_path_tables_equal_scratch_after_every_batch(api, updates, seed, links):
    secret = api.key()
    batches = random_batches(seed, n_batches=4)
    if links == "consistent":
        batches = consistent(batches)
    for batch in small_batches(batches, seed):
        assert api.post_events(secret, batch).status_code in (200, 207, 422)
        assert_cached_equal_scratch(api.services, api.services.columns)
    if links == "consistent":  # conflicting links leave most windows to the library
        assert sum(updates) > len(updates) // 2  # most tables were updated, not rebuilt


def test_tables_are_rebuilt_when_the_changes_are_no_longer_listed(api, updates, monkeypatch):
    # One catch-up listed: a table two catch-ups old is rebuilt, and still equal.
    monkeypatch.setattr(store_module, "MAX_DELTAS", 1)
    secret = api.key()
    services, store = api.services, api.services.columns
    query = parse_query(list(QUERIES[0].items()), services.settings)
    pieces = small_batches(consistent(random_batches(11, n_batches=2)), 11)
    for k, batch in enumerate(pieces):
        assert api.post_events(secret, batch).status_code in (200, 207)
        with services.db.read() as conn:
            snapshot = store.snapshot(conn, "test")  # a catch-up per piece
        if k % 2 == 0:
            cut = store.journeys.get("test", snapshot, query)
            fresh = window_journeys(snapshot, query, FactsCache())
            assert fresh is not None and cut is not None
            if fresh.journeys is not None:
                assert_same_journeys(cut.journeys, fresh.journeys)
    assert updates == []  # two catch-ups apart, one listed: never updated
    assert_cached_equal_scratch(services, store)


def test_attribution_after_updates_is_byte_identical_to_the_sql_route(api, updates):
    secret = api.key()
    services = api.services
    for batch in small_batches(consistent(random_batches(4, n_batches=2)), 4):
        assert api.post_events(secret, batch).status_code in (200, 207)
        params = [("model", "markov"), ("param.n_bootstrap", "20"), ("start", "2026-11-22")]
        query = parse_query(params, services.settings)
        reference_body = compute(services.db, "test", query, services.settings).body
        mine = compute(services.db, "test", query, services.settings, services.columns)
        assert mine.body == reference_body
    assert any(updates)


def test_paths_sharing_a_hash_sum_are_ordered_by_every_key():
    """On a first-sum collision paths are ordered by (first, second, length), as
    `path_group_ids` orders them; an update then declines, and the table is rebuilt."""
    from causality.api.columns.paths import _group

    codes = np.array([0, 1, 2, 0])
    offsets = np.array([0, 1, 2, 3, 4])  # four one-touch journeys: paths 0, 1, 2, 0
    first = np.array([5, 5, 3, 5], dtype=np.uint64)  # paths 0 and 1 collide
    second = np.array([2, 1, 9, 2], dtype=np.uint64)
    length = np.ones(4, dtype=np.int64)
    paths, ids = _group(first, second, length, codes, offsets)
    assert ids.tolist() == [2, 1, 0, 2]
    assert paths.codes.tolist() == [2, 1, 0] and paths.offsets.tolist() == [0, 1, 2, 3]
    assert _group(first, second, length, codes, offsets, exact=False)[0] is None
