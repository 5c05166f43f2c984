"""The schema, as SQLAlchemy Core tables.

Every time is integer microseconds since the epoch, UTC. Every row belongs to a
``mode`` (``live`` or ``test``): the sandbox is a partition, and every query names
its mode. The Alembic migrations in ``migrations/versions`` create exactly these
tables; ``tests/api/test_storage.py`` checks that they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# BigInteger primary keys autoincrement on PostgreSQL; SQLite needs INTEGER for ROWID.
BigId = BigInteger().with_variant(Integer(), "sqlite")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("rotated_to", String(40)),
)

events = Table(
    "events",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("mode", String(4), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("name", String(64)),
    Column("user_id", String(255)),
    Column("anonymous_id", String(255)),
    Column("ts", BigInteger, nullable=False),
    Column("original_timestamp", String(64), nullable=False),
    Column("sent_at", BigInteger),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(1024)),
    Column("medium", String(1024)),
    Column("campaign", String(1024)),
    Column("term", String(1024)),
    Column("content", String(1024)),
    Column("campaign_id", String(1024)),
    Column("referrer", String(1024)),
    Column("gclid", String(255)),
    Column("fbclid", String(255)),
    Column("msclkid", String(255)),
    Column("channel_group", String(64)),
    Column("rule_set", String(64)),
    Column("value", Float),
    Column("currency", String(3)),
    Column("order_id", String(255)),
    Column("offline", Boolean, nullable=False, default=False),
    Column("source_system", String(255)),
    Column("match_status", String(16)),
    Column("matched_user_id", String(255)),
    Column("matched_anonymous_id", String(255)),
    Column("session_id", String(255)),
    Column("properties", Text),
    Column("context", Text),
    Column("first_touch", Text),
    Column("import_id", String(40)),
    Index("ix_events_mode_event_id", "mode", "event_id", unique=True),
    # NULL order ids never collide, so touches and order-less conversions pass.
    Index("ix_events_mode_order", "mode", "name", "order_id", unique=True),
    Index("ix_events_mode_ts", "mode", "ts"),
    Index("ix_events_mode_user", "mode", "user_id"),
    Index("ix_events_mode_anonymous", "mode", "anonymous_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("mode", String(4), primary_key=True),
    Column("anonymous_id", String(255), primary_key=True),
    Column("user_id", String(255), nullable=False),
    Column("linked_at", BigInteger, nullable=False),
    Index("ix_identities_user", "mode", "user_id"),
)

click_ids = Table(
    "click_ids",
    metadata,
    Column("mode", String(4), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("click_id", String(255), primary_key=True),
    Column("user_id", String(255)),
    Column("anonymous_id", String(255)),
    Column("ts", BigInteger, nullable=False),
)

# One row per write that changes what attribution reads (a batch of events, an import
# chunk, a deletion): cached results stay valid while no later change touches their window.
data_changes = Table(
    "data_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("mode", String(4), nullable=False),
    Column("min_ts", BigInteger),
    Column("max_ts", BigInteger),
    Column("identify", Boolean, nullable=False),
    Column("deletion", Boolean, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_data_changes_mode", "mode", "id"),
)

# One row per mode, updated first by every transaction that writes or deletes its events.
# The row lock serialises those writers, so event primary keys of a mode are committed in
# increasing order and a reader catches up with ``pk > last seen``; ``epoch`` counts the
# deletions, after which readers rebuild (see `causality.api.storage.versions`).
data_versions = Table(
    "data_versions",
    metadata,
    Column("mode", String(4), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("mode", String(4), primary_key=True),
    Column("method", String(8), primary_key=True),
    Column("path", String(255), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),
    Column("status_code", Integer),
    Column("body", LargeBinary),
    Column("headers", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Durable jobs: attribution runs, reports and imports, claimed with a lease.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("mode", String(4), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(12), nullable=False),
    Column("payload", Text, nullable=False),
    Column("params_key", String(64)),
    Column("marker", Text),
    Column("progress", Text),
    Column("result", LargeBinary),
    Column("media_type", String(64)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(64)),
    Column("lease_until", BigInteger),
    Column("schedule_id", String(40)),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger),
    Column("completed_at", BigInteger),
    Index("ix_jobs_claim", "status", "kind", "created_at"),
    Index("ix_jobs_cache", "mode", "kind", "params_key"),
)

report_schedules = Table(
    "report_schedules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("mode", String(4), nullable=False),
    Column("spec", Text, nullable=False),
    Column("every", String(8), nullable=False),
    Column("at", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("next_run_at", BigInteger, nullable=False),
    Column("last_run_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
)
