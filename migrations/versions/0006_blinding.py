"""blinding: per-study display geometry and renditions, per-showing image tokens, opaque
annotator and researcher sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _created() -> sa.Column:
    return sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        server_default=sa.func.current_timestamp(),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(
            sa.Column("display_size", sa.Integer(), server_default="1024", nullable=False)
        )
        batch.add_column(sa.Column("display_width", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("display_height", sa.Integer(), nullable=True))
    op.create_table(
        "annotator_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotators.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_annotator_sessions_annotator_id", "annotator_sessions", ["annotator_id"], unique=False
    )
    op.create_table(
        "researcher_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_researcher_sessions_api_key_id", "researcher_sessions", ["api_key_id"], unique=False
    )
    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        _created(),
        sa.CheckConstraint("variant IN ('clean', 'degraded')", name="rendition_variant_known"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "image_id", "variant", name="uq_renditions_study_image"),
    )
    op.create_table(
        "image_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("rendition_id", sa.Integer(), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rendition_id"], ["renditions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["annotator_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index(
        "ix_image_tokens_assignment_id", "image_tokens", ["assignment_id"], unique=False
    )
    op.create_index("ix_image_tokens_session_id", "image_tokens", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_image_tokens_session_id", table_name="image_tokens")
    op.drop_index("ix_image_tokens_assignment_id", table_name="image_tokens")
    op.drop_table("image_tokens")
    op.drop_table("renditions")
    op.drop_index("ix_researcher_sessions_api_key_id", table_name="researcher_sessions")
    op.drop_table("researcher_sessions")
    op.drop_index("ix_annotator_sessions_annotator_id", table_name="annotator_sessions")
    op.drop_table("annotator_sessions")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("display_height")
        batch.drop_column("display_width")
        batch.drop_column("display_size")
