"""Data versions: a per-mode counter that orders event writes (the columnar event cache).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``data_versions``."""
    op.create_table(
        "data_versions",
        sa.Column("mode", sa.String(4), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    """Drop ``data_versions``."""
    op.drop_table("data_versions")
