"""`Services`: the per-app objects (database, limiter, thread pool, caches).

`create_app` builds one and keeps it on ``app.state.services``; dependencies reach
it through the request, so two apps in one process share nothing.
"""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from causality.api.columns.store import EventStore
from causality.api.keystore import KeyCache
from causality.api.ratelimit import RateLimiter
from causality.api.settings import Settings
from causality.api.storage import Database
from causality.api.timeutil import to_micros


class Services:
    """Everything one app instance owns.

    Parameters
    ----------
    settings : Settings
    migrate : bool
        Apply the schema migrations now (the default; tests that copy a migrated
        template database skip it).
    """

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.url)
        if migrate:
            self.db.migrate()
        self.limiter = RateLimiter(enabled=settings.rate_limits)
        self.keys = KeyCache(settings.key_cache_s)
        self.columns = (
            EventStore(max_events=settings.event_columns_max_events)
            if settings.event_columns
            else None
        )
        self._executor: ThreadPoolExecutor | None = None
        # Identifies this process as a lease owner in the job table.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.attribution_cache: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.cache_lock = threading.Lock()
        self.background: list[Any] = []  # workers and the lease keeper, stopped on close
        self.lease_keeper: Any = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool that runs attribution fits off the event loop (created on first use)."""
        with self.cache_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.settings.attribution_threads,
                    thread_name_prefix="causality-fit",
                )
            return self._executor

    def now_us(self) -> int:
        """The current time from the settings' clock, epoch microseconds."""
        return to_micros(self.settings.now())

    def close(self) -> None:
        """Stop background threads, the thread pool and the database pool.

        The app stays usable: a later request opens new connections and a new pool
        (test clients run the ASGI lifespan once per client).
        """
        for worker in self.background:
            worker.stop()
        self.background.clear()
        if self.columns is not None:
            self.columns.stop()
        self.lease_keeper = None
        with self.cache_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self.db.close()
