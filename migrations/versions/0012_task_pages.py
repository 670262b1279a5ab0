"""task pages: "can't judge" answers and a progress total fixed per annotator session

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("skipped_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("skipped_item_key", sa.String(length=100), nullable=True))
    with op.batch_alter_table("annotator_sessions") as batch:
        batch.add_column(sa.Column("planned_total", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotator_sessions") as batch:
        batch.drop_column("planned_total")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("skipped_item_key")
        batch.drop_column("skipped_at")
