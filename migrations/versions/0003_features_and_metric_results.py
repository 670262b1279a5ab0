"""features and metric results

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 06:42:24.751332
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feature_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extractor", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    op.create_table(
        "features",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("extractor", sa.String(length=200), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["feature_files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sha256", "extractor"),
    )
    op.create_table(
        "metric_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generator_id", sa.Integer(), nullable=False),
        sa.Column("reference_set_id", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("std", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n_gen", sa.Integer(), nullable=True),
        sa.Column("n_real", sa.Integer(), nullable=True),
        sa.Column("extractor", sa.String(length=200), nullable=True),
        sa.Column("preprocessing", sa.Text(), nullable=True),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("warnings", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["generator_id"], ["generators.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reference_set_id"], ["reference_sets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generator_id", "reference_set_id", "metric", name="uq_metric_scope"),
    )
    with op.batch_alter_table("metric_results", schema=None) as batch_op:
        batch_op.create_index("ix_metric_results_generator", ["generator_id"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_scope"), ["scope"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_scope"))
        batch_op.drop_column("scope")

    with op.batch_alter_table("metric_results", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_results_generator")

    op.drop_table("metric_results")
    op.drop_table("features")
    op.drop_table("feature_files")
