"""`EventStore`: each mode's events as in-memory columns, kept in step with the database.

Attribution over a window reads a million stored events; fetching them row by row
through SQL took seconds per query. The store keeps them as numpy columns
(`EventColumns`, `BYTES_PER_EVENT` bytes per event plus one dictionary entry per
distinct string) and catches up from the database before every query:

* the mode's `data_versions` row says whether anything was written since the last
  catch-up; event writes of a mode commit in primary-key order (the version row is
  locked first), so reading ``pk > last seen`` gets exactly the new rows, whichever
  process wrote them;
* a deletion bumps the mode's ``epoch``, and the store rebuilds from scratch;
* identity links are re-read for the anonymous ids that new rows link.

New rows are merged into a ``tail`` that joins the ``base`` once it holds a quarter
as many rows, so a catch-up copies the tail, not every stored event. A mode with
more than ``max_events`` events is not held at all: its queries read SQL. Queries
also catch up, so a following thread (`EventStore.follow`) only keeps their share
small and loads the columns at startup.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, func, select

from causality.api.columns.fetch import EventLabels, fetch_events, fetch_identities
from causality.api.columns.table import EventColumns
from causality.api.storage.tables import events
from causality.api.storage.versions import DataVersion, read_version

if TYPE_CHECKING:
    from causality.api.attribution_query import AttributionQuery
    from causality.api.storage import Database

log = logging.getLogger("causality.api.columns")

MODES = ("live", "test")


#: Catch-ups whose new rows a snapshot lists (`Snapshot.deltas`), at most ...
MAX_DELTAS = 64
#: ... holding at most this many rows together.
MAX_DELTA_ROWS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Delta:
    """What one catch-up changed: the rows it read, and the anonymous ids it (re)linked."""

    version: int  # the columns' version after the catch-up
    rows: EventColumns
    linked: np.ndarray  # codes of anonymous ids whose identity link changed


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A consistent view of one mode's events.

    ``parts`` are sorted column sets, a later part holding later primary keys. Every
    code in them and in ``identity`` is below ``n_users`` / ``n_anons``, the sizes of
    the (still growing) dictionaries when the view was taken.

    ``lineage`` is the same object for every snapshot since the columns were last
    loaded from scratch, whose ``version`` counts catch-ups; ``deltas`` list the
    latest of those catch-ups (up to `MAX_DELTAS`), so that what is derived from an
    older snapshot of the same lineage can be updated instead of rebuilt
    (`causality.api.columns.paths`).
    """

    parts: tuple[EventColumns, ...]
    identity: np.ndarray  # anonymous-id code -> user code, -1 when unlinked
    labels: EventLabels
    n_users: int
    n_anons: int
    lineage: object = None
    version: int = 0
    deltas: tuple[Delta, ...] = ()

    def changes_since(self, lineage: object, version: int) -> tuple[Delta, ...] | None:
        """The catch-ups after ``version`` of ``lineage``; None when they are not all known."""
        if lineage is None or lineage is not self.lineage or version > self.version:
            return None
        changes = tuple(delta for delta in self.deltas if delta.version > version)
        if len(changes) != self.version - version:
            return None
        return changes

    def __len__(self) -> int:
        """Number of stored touches and conversions."""
        return sum(len(part) for part in self.parts)


class ModeColumns:
    """The columnar copy of one mode's events."""

    def __init__(self, mode: str, *, max_events: int) -> None:
        self.mode = mode
        self.max_events = max_events
        self.lock = threading.Lock()
        self._reset()
        self.synced: DataVersion | None = None  # the version the columns reflect
        self.too_large = False

    def _reset(self) -> None:
        self.labels = EventLabels()
        self.base = EventColumns.empty()
        self.tail = EventColumns.empty()
        self.identity = np.empty(0, dtype=np.int32)
        self.max_pk = 0
        self.lineage = object()
        self.version = 0
        self.deltas: tuple[Delta, ...] = ()

    def __len__(self) -> int:
        """Number of stored touches and conversions held."""
        return len(self.base) + len(self.tail)

    @property
    def nbytes(self) -> int:
        """Approximate memory held: columns, identity links and dictionaries."""
        return self.base.nbytes + self.tail.nbytes + self.identity.nbytes + self.labels.nbytes

    def sync(self, conn: Connection) -> Snapshot | None:
        """Catch up with what ``conn`` sees; None when the mode is over ``max_events``.

        A connection that sees an older version than the columns (a reader whose
        snapshot began before another caught up) leaves them as they are.
        """
        with self.lock:
            current = read_version(conn, self.mode)
            synced = self.synced
            if synced is None or current.epoch > synced.epoch:
                self._rebuild(conn, current)
            elif current.version > synced.version and not self.too_large:
                self._catch_up(conn, current)
            if self.too_large:
                return None
            return Snapshot(
                (self.base, self.tail),
                self.identity,
                self.labels,
                n_users=len(self.labels.users),
                n_anons=len(self.labels.anons),
                lineage=self.lineage,
                version=self.version,
                deltas=self.deltas,
            )

    def _rebuild(self, conn: Connection, current: DataVersion) -> None:
        self._reset()
        self.synced = None  # until the load below succeeds: a failed one is retried
        count = int(
            conn.scalar(select(func.count()).select_from(events).where(events.c.mode == self.mode))
            or 0
        )
        self.too_large = count > self.max_events
        if self.too_large:
            log.warning(
                "%s mode holds %s events, over the event columns limit of %s; attribution "
                "reads them with SQL",
                self.mode,
                f"{count:,}",
                f"{self.max_events:,}",
            )
        else:
            fetched = fetch_events(conn, self.mode, 0, self.labels)
            self.base, self.max_pk = fetched.columns, fetched.max_pk
            self._link(*fetch_identities(conn, self.mode, self.labels, None))
        self.synced = current

    def _catch_up(self, conn: Connection, current: DataVersion) -> None:
        fetched = fetch_events(conn, self.mode, self.max_pk, self.labels)
        self.synced = current
        if len(self) + len(fetched.columns) > self.max_events:
            self._reset()
            self.too_large = True
            return
        self.max_pk = fetched.max_pk
        before = self.identity
        links = fetch_identities(conn, self.mode, self.labels, fetched.linked)
        self._link(*links)  # also sizes `identity` to the new anonymous ids
        self._record(fetched.columns, before)
        tail = self.tail.merge(fetched.columns)
        if len(tail) * 4 > len(self.base):
            self.base, self.tail = self.base.merge(tail), EventColumns.empty()
        else:
            self.tail = tail

    def _record(self, rows: EventColumns, identity_before: np.ndarray) -> None:
        """Count a catch-up and keep its changes in the latest `Delta` list."""
        old = len(identity_before)
        linked = np.flatnonzero(self.identity[:old] != identity_before)
        linked = np.concatenate([linked, old + np.flatnonzero(self.identity[old:] >= 0)])
        self.version += 1
        deltas = [*self.deltas, Delta(self.version, rows, linked)][-MAX_DELTAS:]
        while len(deltas) > 1 and sum(len(d.rows) for d in deltas) > MAX_DELTA_ROWS:
            deltas.pop(0)
        self.deltas = tuple(deltas)

    def _link(self, anons: np.ndarray, users: np.ndarray) -> None:
        """Set identity links (a new array: snapshots hold the old one)."""
        identity = np.full(len(self.labels.anons), -1, dtype=np.int32)
        identity[: len(self.identity)] = self.identity
        identity[anons] = users
        self.identity = identity


class EventStore:
    """The columnar event copies of one app, per mode.

    Parameters
    ----------
    max_events : int
        A mode with more stored events is not held in memory.
    """

    def __init__(self, *, max_events: int) -> None:
        # Imported here: the cache module reads this one's `Snapshot`.
        from causality.api.columns.cache import JourneysCache

        self.modes = {mode: ModeColumns(mode, max_events=max_events) for mode in MODES}
        #: Path tables of recent queries (`causality.api.columns.cache`).
        self.journeys = JourneysCache()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self, conn: Connection, mode: str) -> Snapshot | None:
        """The mode's events as of ``conn``'s view of the database (None: use SQL)."""
        return self.modes[mode].sync(conn)

    def status(self) -> dict[str, dict[str, object]]:
        """Per mode: whether it is in step, and how many events and bytes it holds."""
        return {
            mode: {
                "ready": columns.synced is not None and not columns.too_large,
                "events": len(columns),
                "bytes": columns.nbytes,
            }
            for mode, columns in self.modes.items()
        }

    def follow(
        self,
        db: Database,
        every_s: float,
        warm: Callable[[], Sequence[AttributionQuery]] | None = None,
    ) -> None:
        """Load every mode now, then catch up every ``every_s`` seconds, in a thread.

        Queries catch up anyway; following keeps what is left for them small, and
        loads the columns at startup rather than in the first query. After a catch-up
        it also cuts the path tables of the queries ``warm()`` names (the default query,
        whose window moves daily) for the new snapshot (`JourneysCache.keep_warm`), so
        that their next query usually finds them ready.
        """
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, args=(db, every_s, warm), name="causality-columns", daemon=True
        )
        self._thread.start()

    def _follow(
        self, db: Database, every_s: float, warm: Callable[[], Sequence[AttributionQuery]] | None
    ) -> None:
        while True:
            for mode in MODES:
                try:
                    with db.read() as conn:
                        snapshot = self.modes[mode].sync(conn)
                    if snapshot is not None and warm is not None:
                        self.journeys.keep_warm(mode, snapshot, warm())
                except Exception:  # the next round (or the next query) retries
                    log.exception("catching up the %s event columns failed", mode)
            if self._stop.wait(every_s):
                return

    def stop(self) -> None:
        """Stop following (the columns stay; queries still catch up)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)
