"""metrics depth: preprocessing mode and imported statistics of reference sets; generator families

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_sets") as batch:
        batch.add_column(
            sa.Column(
                "preprocessing_mode",
                sa.String(length=30),
                server_default="clean",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("statistics_path", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("statistics_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("statistics_n", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("statistics_dimension", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("statistics_has_features", sa.Boolean(), nullable=True))
        batch.create_check_constraint(
            "reference_set_mode_known",
            "preprocessing_mode IN ('clean', 'legacy_pytorch', 'legacy_tensorflow')",
        )
    with op.batch_alter_table("generators") as batch:
        batch.add_column(sa.Column("family", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("family_setting", sa.String(length=30), nullable=True))
        batch.create_index("ix_generators_family", ["family"])
        batch.create_check_constraint(
            "generator_family_setting_known",
            "family_setting IS NULL OR family_setting IN ('guidance_scale', 'truncation', 'steps')",
        )


def downgrade() -> None:
    with op.batch_alter_table("generators") as batch:
        batch.drop_constraint("generator_family_setting_known", type_="check")
        batch.drop_index("ix_generators_family")
        batch.drop_column("family_setting")
        batch.drop_column("family")
    with op.batch_alter_table("reference_sets") as batch:
        batch.drop_constraint("reference_set_mode_known", type_="check")
        for column in (
            "statistics_has_features",
            "statistics_dimension",
            "statistics_n",
            "statistics_sha256",
            "statistics_path",
            "preprocessing_mode",
        ):
            batch.drop_column(column)
