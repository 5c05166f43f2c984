"""Fixtures of the API tests: an app on a copy of a migrated database, a fake clock, keys.

The PostgreSQL leg (``backend`` = ``postgresql``, marked slow) runs against a real server
that `postgres_server` starts with ``initdb``/``pg_ctl`` on a loopback port; it looks for the
binaries on PATH, then under ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql``).
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from causality.api import Settings, create_app
from causality.api.keystore import create_key
from causality.api.storage import Database
from causality.api.timeutil import to_micros
from tests.api.postgres import PostgresServer, find_pg_bin

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    """A settable clock for `Settings.clock`."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclasses.dataclass
class Api:
    """A running app: its test client, services, clock and a helper to make keys."""

    client: TestClient
    app: Any
    clock: FakeClock

    @property
    def services(self) -> Any:
        return self.app.state.services

    def key(self, mode: str = "test", scopes: str = "all", name: str = "test key") -> str:
        with self.services.db.write() as conn:
            _record, secret = create_key(
                conn, name=name, mode=mode, scopes=scopes, now_us=to_micros(self.clock())
            )
        return secret

    @staticmethod
    def auth(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    def post_events(self, secret: str, events: list[dict], **params: Any) -> Any:
        return self.client.post(
            "/v1/events", headers=self.auth(secret), json={"events": events}, params=params
        )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database, copied by each test (migrations run once)."""
    folder = tmp_path_factory.mktemp("template")
    db = Database(f"sqlite:///{folder / 'causality.sqlite3'}")
    db.migrate()
    db.close()
    return folder / "causality.sqlite3"


@pytest.fixture(scope="session")
def postgres_server():
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL binaries (initdb, pg_ctl) were not found on PATH or under "
            "/usr/lib/postgresql/*/bin; install Debian's postgresql package"
        )
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


def _backend_params():
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.slow),
    ]


@pytest.fixture(params=_backend_params())
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path, sqlite_template) -> tuple[str | None, bool]:
    """(database URL, migrated already) for the test's backend."""
    if backend == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "causality.sqlite3")
        return None, True
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}"), False


@pytest.fixture
def make_api(tmp_path, database_url):
    """Build an app with settings overrides; closed at teardown."""
    url, migrated = database_url
    opened: list[TestClient] = []

    def build(**overrides: Any) -> Api:
        clock = overrides.pop("clock", None) or FakeClock()
        # No background catch-up thread: tests count queries and compare row counts;
        # queries still catch the event columns up (test_event_columns tests the thread).
        overrides.setdefault("event_columns_follow_s", 0.0)
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            clock=clock,
            log_requests=overrides.pop("log_requests", False),
            **overrides,
        )
        app = create_app(settings, migrate=not migrated)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return Api(client=client, app=app, clock=clock)

    yield build
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api) -> Api:
    """An app with rate limits off and the default limits."""
    return make_api(rate_limits=False)


def touch(event_id: str, *, user: str = "u1", at: datetime = NOW, **channel: Any) -> dict:
    """A touch event (default channel: google / cpc)."""
    return {
        "event_id": event_id,
        "event_type": "touch",
        "timestamp": at.isoformat(),
        "user_id": user,
        "channel": channel or {"source": "google", "medium": "cpc"},
    }


def conversion(event_id: str, *, user: str | None = "u1", at: datetime = NOW, **conv: Any) -> dict:
    """A purchase conversion (default value 10)."""
    event = {
        "event_id": event_id,
        "event_type": "conversion",
        "timestamp": at.isoformat(),
        "conversion": {"name": "purchase", "value": "10.00", **conv},
    }
    if user is not None:
        event["user_id"] = user
    return event
