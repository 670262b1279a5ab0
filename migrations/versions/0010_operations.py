"""operations: invite expiry, maximum uses and revocation; database rate-limit counters

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 12:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotators") as batch:
        batch.add_column(sa.Column("invite_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("invite_max_uses", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("invite_uses", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("invite_revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
    with op.batch_alter_table("annotators") as batch:
        batch.drop_column("invite_revoked_at")
        batch.drop_column("invite_uses")
        batch.drop_column("invite_max_uses")
        batch.drop_column("invite_expires_at")
