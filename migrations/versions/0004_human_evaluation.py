"""human evaluation: studies, annotators, assignments (item slots), votes, check images

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:04:56.216621
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# JSONB on PostgreSQL, JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("raters_per_item", sa.Integer(), nullable=False),
        sa.Column("attention_check_rate", sa.Float(), nullable=False),
        sa.Column("flag_options", JSON, nullable=False),
        sa.Column("pair_policy", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("max_tasks_per_annotator", sa.Integer(), nullable=True),
        sa.Column("prompt_set_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('pairwise', 'rating', 'flag')", name="study_kind_known"),
        sa.CheckConstraint("pair_policy IN ('uniform', 'active')", name="study_pair_policy_known"),
        sa.CheckConstraint("status IN ('draft', 'open', 'closed')", name="study_status_known"),
        sa.CheckConstraint(
            "attention_check_rate >= 0 AND attention_check_rate <= 1", name="study_check_rate_unit"
        ),
        sa.CheckConstraint("raters_per_item >= 1", name="study_raters_positive"),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_sets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("is_simulated", sa.Boolean(), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handle"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("annotators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annotators_study_id"), ["study_id"], unique=False)

    op.create_table(
        "study_generators",
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("generator_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["generator_id"],
            ["generators.id"],
        ),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("study_id", "generator_id"),
    )
    op.create_table(
        "check_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("source_image_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source_image_id"],
            ["images.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("source_image_id"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=True),
        sa.Column("image_left_id", sa.Integer(), nullable=True),
        sa.Column("image_right_id", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("generator_left_id", sa.Integer(), nullable=True),
        sa.Column("generator_right_id", sa.Integer(), nullable=True),
        sa.Column("generator_id", sa.Integer(), nullable=True),
        sa.Column("check_kind", sa.String(length=20), nullable=True),
        sa.Column("expected_choice", sa.String(length=20), nullable=True),
        sa.Column("repeat_of_id", sa.Integer(), nullable=True),
        sa.Column("degraded_side", sa.String(length=10), nullable=True),
        sa.Column("check_image_id", sa.Integer(), nullable=True),
        sa.Column("item_key", sa.String(length=100), nullable=True),
        sa.Column("slot", sa.Integer(), nullable=True),
        sa.Column(
            "issued_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "check_kind IS NULL OR check_kind IN ('degraded', 'repeat')",
            name="assignment_check_known",
        ),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotators.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["check_image_id"],
            ["check_images.id"],
        ),
        sa.ForeignKeyConstraint(
            ["generator_id"],
            ["generators.id"],
        ),
        sa.ForeignKeyConstraint(
            ["generator_left_id"],
            ["generators.id"],
        ),
        sa.ForeignKeyConstraint(
            ["generator_right_id"],
            ["generators.id"],
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
        ),
        sa.ForeignKeyConstraint(
            ["image_left_id"],
            ["images.id"],
        ),
        sa.ForeignKeyConstraint(
            ["image_right_id"],
            ["images.id"],
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["repeat_of_id"],
            ["assignments.id"],
        ),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint(
            "study_id", "annotator_id", "item_key", name="uq_assignments_annotator_item"
        ),
        sa.UniqueConstraint("study_id", "item_key", "slot", name="uq_assignments_item_slot"),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_annotator_open", ["annotator_id", "answered_at"], unique=False
        )
        batch_op.create_index(
            "ix_assignments_study_expiry", ["study_id", "answered_at", "expires_at"], unique=False
        )

    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=20), nullable=True),
        sa.Column("winner", sa.String(length=20), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("flags", JSON, nullable=True),
        sa.Column("server_ms", sa.Integer(), nullable=False),
        sa.Column("client_ms", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "choice IS NULL OR choice IN ('left', 'right', 'tie', 'both_bad')",
            name="vote_choice_known",
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name="vote_rating_range"
        ),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotators.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("assignment_id"),
    )
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_votes_annotator_id"), ["annotator_id"], unique=False)
        batch_op.create_index("ix_votes_study_created", ["study_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index("ix_votes_study_created")
        batch_op.drop_index(batch_op.f("ix_votes_annotator_id"))

    op.drop_table("votes")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_study_expiry")
        batch_op.drop_index("ix_assignments_annotator_open")

    op.drop_table("assignments")
    op.drop_table("check_images")
    op.drop_table("study_generators")
    with op.batch_alter_table("annotators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotators_study_id"))

    op.drop_table("annotators")
    op.drop_table("studies")
