"""human depth: appearance covariates of images for controlled Bradley-Terry

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 16:40:00

Images stored before this revision have NULL brightness and saturation (the media store is not
reachable from a migration); `arena media covariates` measures them from the served copies.
Resolution, aspect ratio and encoded size come from the existing width, height and byte_size.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("brightness", sa.Float(), nullable=True))
        batch.add_column(sa.Column("saturation", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("saturation")
        batch.drop_column("brightness")
