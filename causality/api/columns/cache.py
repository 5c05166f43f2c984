"""Path tables of recent attribution queries, kept while the stored events stay the same.

Every model that works on the path table (`markov`, `shapley`, the position
heuristics) and every parameter choice (``ci_level``, ``n_bootstrap``, ``order``)
reads the same journeys for one window, lookback, conversion and grouping. They are
cut once per data version (`window_journeys`) and shared, with what models derive
from them (`Journeys.cached`, e.g. Markov's chain structure), until new events
arrive. Then the next query of a window cuts it again from the new snapshot; the
store's following thread does so ahead of time for the windows worth keeping ready
(`JourneysCache.keep_warm`: the default query). Either way an entry is only ever
used with the snapshot it was cut from. A window cut again after new events is
updated from its previous cut where that one is of the same lineage
(`WindowPaths.update`: only the journeys of the persons the new events touch are cut
again), and built from scratch otherwise.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from causality.api.attribution_query import AttributionQuery
from causality.api.columns.journeys import (
    FactsCache,
    WindowInput,
    WindowJourneys,
    window_input,
)
from causality.api.columns.paths import WindowPaths
from causality.api.columns.store import Snapshot


class _Version:
    """Which snapshot an entry was cut from, without keeping its (large) arrays alive."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._refs = [weakref.ref(x) for x in (*snapshot.parts, snapshot.identity, snapshot.labels)]

    def of(self, snapshot: Snapshot) -> bool:
        """Whether ``snapshot`` is the one (a collected part never is)."""
        held = (*snapshot.parts, snapshot.identity, snapshot.labels)
        return len(held) == len(self._refs) and all(
            ref() is x for ref, x in zip(self._refs, held, strict=True)
        )


@dataclasses.dataclass
class _Entry:
    version: _Version
    query: AttributionQuery
    cut: WindowJourneys | None
    seconds: float  # how long the cut took
    done_at: float  # time.monotonic() when it was made
    paths: WindowPaths | None = None  # what updating the cut needs (None: rebuild)
    lineage: object = None  # the snapshot's lineage and version
    at_version: int = 0


class JourneysCache:
    """The `WindowJourneys` of the ``size`` most recently used query windows.

    An entry is valid for the snapshot it was cut from: the store replaces its
    column parts and identity array (never modifies them) when it catches up, so
    comparing them by identity tells whether anything changed. Entries refer to them
    weakly: a cached table never keeps replaced columns in memory.

    Parameters
    ----------
    size : int
        Query windows kept (each holds its path table).
    refresh_share : float
        At most about this share of the time goes to keeping a window ready
        (`keep_warm`) while events keep arriving. Small: ingest is CPU-bound, and under
        heavy ingest a window is stale again within a second (measured with
        ``benchmarks/bench_api.py``: at 0.25, ingest fell from ~8,900 to ~6,700 events/s).
    """

    def __init__(self, size: int = 8, refresh_share: float = 0.05) -> None:
        self.size = size
        self.refresh_share = refresh_share
        self.facts = FactsCache()
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._cutting: dict[tuple, threading.Lock] = {}  # one lock per window being cut
        self._lock = threading.Lock()

    def get(self, mode: str, snapshot: Snapshot, query: AttributionQuery) -> WindowJourneys | None:
        """The journeys of ``query`` on ``snapshot`` (None: read them from the event frame)."""
        key = _key(mode, query)
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held.version.of(snapshot):
                self._entries.move_to_end(key)
                return held.cut
        return self._cut(key, snapshot, query).cut

    def ready(self, mode: str, snapshot: Snapshot, query: AttributionQuery) -> bool:
        """Whether the journeys of ``query`` on ``snapshot`` are cut already."""
        with self._lock:
            held = self._entries.get(_key(mode, query))
        return held is not None and held.version.of(snapshot)

    def keep_warm(self, mode: str, snapshot: Snapshot, queries: Sequence[AttributionQuery]) -> int:
        """Cut the windows of ``queries`` for ``snapshot`` unless they are; returns how many.

        For the store's following thread, with the queries worth keeping ready (the
        default one). A stale window is cut again no sooner than its last cut's
        duration / ``refresh_share`` after that cut, which bounds the share of time this
        takes while events keep arriving. Other windows are cut again by their next
        query only: a one-off window costs nothing in the background.
        """
        now = time.monotonic()
        todo = {}
        with self._lock:
            for query in queries:
                key = _key(mode, query)
                held = self._entries.get(key)
                if held is None or (
                    not held.version.of(snapshot)
                    and now - held.done_at >= held.seconds / self.refresh_share
                ):
                    todo[key] = query
        for key, query in todo.items():
            self._cut(key, snapshot, query)
        return len(todo)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def _cut(self, key: tuple, snapshot: Snapshot, query: AttributionQuery) -> _Entry:
        with self._lock:
            gate = self._cutting.setdefault(key, threading.Lock())
        # One cut per window at a time: a query arriving while the following thread cuts
        # its window waits for that cut instead of doing the same work beside it.
        with gate:
            with self._lock:
                held = self._entries.get(key)
            if held is not None and held.version.of(snapshot):
                return held
            started = time.monotonic()
            paths = self._paths(held, snapshot, query)
            cut = paths.result if isinstance(paths, WindowPaths) else paths
            done = time.monotonic()
            entry = _Entry(
                _Version(snapshot),
                query,
                cut,
                done - started,
                done,
                paths if isinstance(paths, WindowPaths) else None,
                snapshot.lineage,
                snapshot.version,
            )
            with self._lock:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    evicted, _ = self._entries.popitem(last=False)
                    self._cutting.pop(evicted, None)
            return entry

    def _paths(
        self, held: _Entry | None, snapshot: Snapshot, query: AttributionQuery
    ) -> WindowPaths | WindowJourneys | None:
        """The window's paths: updated from ``held`` where it can be, else from scratch.

        A `WindowJourneys` when the window holds no conversion; None when the events
        need `Journeys.from_events` itself (`window_input`).
        """
        source = window_input(snapshot, query, self.facts)
        if not isinstance(source, WindowInput):
            return source
        if held is not None and held.paths is not None:
            deltas = snapshot.changes_since(held.lineage, held.at_version)
            if deltas is not None:
                updated = held.paths.update(source, snapshot.identity, deltas)
                if updated is not None:
                    return updated
        return WindowPaths.build(source, snapshot.identity, query.lookback_days)


def _key(mode: str, query: AttributionQuery) -> tuple[Any, ...]:
    return (
        mode,
        query.start_us,
        query.end_us,
        query.lookback_days,
        query.conversion,
        query.group_by,
    )
