"""Storage: migrations equal the table definitions, durable SQLite settings, no secrets."""

from __future__ import annotations

import logging

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from causality.api.storage import Database
from causality.api.storage.tables import metadata
from tests.api.conftest import touch


def test_migrations_create_exactly_the_declared_schema(api):
    with api.services.db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_sqlite_runs_in_wal_with_full_sync(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    db.migrate()
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    db.close()


def test_migrating_twice_is_a_no_op(api):
    api.services.db.migrate()
    api.services.db.migrate()
    with api.services.db.read() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"


def test_access_logs_are_json_lines_without_the_secret(make_api, caplog):
    api = make_api(rate_limits=False, log_requests=True)
    secret = api.key()
    with caplog.at_level(logging.INFO, logger="causality.api.access"):
        api.post_events(secret, [touch("e1")])
        api.client.get("/v1/keys", headers=api.auth(secret))
        api.client.get("/v1/keys", params={"api_key": secret})
    lines = [r.getMessage() for r in caplog.records if r.name == "causality.api.access"]
    assert len(lines) == 3
    import json

    first = json.loads(lines[0])
    assert first["route"] == "/v1/events" and first["status"] == 200
    assert first["key_prefix"] == secret[:16] + "…" and first["latency_ms"] >= 0
    assert all(secret not in line and secret[8:40] not in line for line in lines)
    assert all(secret not in r.getMessage() for r in caplog.records)
