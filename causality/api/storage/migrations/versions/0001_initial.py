"""Initial schema: keys, events, identities, click ids, changes, idempotency, jobs, schedules.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("rotated_to", sa.String(40)),
    )
    op.create_table(
        "events",
        sa.Column("pk", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("anonymous_id", sa.String(255)),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("original_timestamp", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.BigInteger),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        *(
            sa.Column(name, sa.String(1024))
            for name in ("source", "medium", "campaign", "term", "content", "campaign_id")
        ),
        sa.Column("referrer", sa.String(1024)),
        sa.Column("gclid", sa.String(255)),
        sa.Column("fbclid", sa.String(255)),
        sa.Column("msclkid", sa.String(255)),
        sa.Column("channel_group", sa.String(64)),
        sa.Column("rule_set", sa.String(64)),
        sa.Column("value", sa.Float),
        sa.Column("currency", sa.String(3)),
        sa.Column("order_id", sa.String(255)),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("source_system", sa.String(255)),
        sa.Column("match_status", sa.String(16)),
        sa.Column("matched_user_id", sa.String(255)),
        sa.Column("matched_anonymous_id", sa.String(255)),
        sa.Column("session_id", sa.String(255)),
        sa.Column("properties", sa.Text),
        sa.Column("context", sa.Text),
        sa.Column("first_touch", sa.Text),
        sa.Column("import_id", sa.String(40)),
    )
    op.create_index("ix_events_mode_event_id", "events", ["mode", "event_id"], unique=True)
    op.create_index("ix_events_mode_order", "events", ["mode", "name", "order_id"], unique=True)
    op.create_index("ix_events_mode_ts", "events", ["mode", "ts"])
    op.create_index("ix_events_mode_user", "events", ["mode", "user_id"])
    op.create_index("ix_events_mode_anonymous", "events", ["mode", "anonymous_id"])
    op.create_table(
        "identities",
        sa.Column("mode", sa.String(4), primary_key=True),
        sa.Column("anonymous_id", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("linked_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_identities_user", "identities", ["mode", "user_id"])
    op.create_table(
        "click_ids",
        sa.Column("mode", sa.String(4), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("click_id", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(255)),
        sa.Column("anonymous_id", sa.String(255)),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "data_changes",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("min_ts", sa.BigInteger),
        sa.Column("max_ts", sa.BigInteger),
        sa.Column("identify", sa.Boolean, nullable=False),
        sa.Column("deletion", sa.Boolean, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_data_changes_mode", "data_changes", ["mode", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("mode", sa.String(4), primary_key=True),
        sa.Column("method", sa.String(8), primary_key=True),
        sa.Column("path", sa.String(255), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("body", sa.LargeBinary),
        sa.Column("headers", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("params_key", sa.String(64)),
        sa.Column("marker", sa.Text),
        sa.Column("progress", sa.Text),
        sa.Column("result", sa.LargeBinary),
        sa.Column("media_type", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("schedule_id", sa.String(40)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger),
        sa.Column("completed_at", sa.BigInteger),
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", "kind", "created_at"])
    op.create_index("ix_jobs_cache", "jobs", ["mode", "kind", "params_key"])
    op.create_table(
        "report_schedules",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("every", sa.String(8), nullable=False),
        sa.Column("at", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("next_run_at", sa.BigInteger, nullable=False),
        sa.Column("last_run_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    """Drop every table."""
    for table in (
        "report_schedules",
        "jobs",
        "idempotency_keys",
        "data_changes",
        "click_ids",
        "identities",
        "events",
        "api_keys",
    ):
        op.drop_table(table)
