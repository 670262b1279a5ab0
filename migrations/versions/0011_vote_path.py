"""vote path at crowd scale: open-slot table, pool versions, per-annotator answer counters

Revision ID: 0011
Revises: 0013
Create Date: 2026-12-03 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=100), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=True),
        sa.Column("gen_a", sa.Integer(), nullable=True),
        sa.Column("gen_b", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "item_key", "slot", name="uq_study_slots_item_slot"),
    )
    op.create_index("ix_study_slots_order", "study_slots", ["study_id", "position"])
    op.create_index(
        "ix_study_slots_pair", "study_slots", ["study_id", "gen_a", "gen_b", "position"]
    )
    with op.batch_alter_table("studies") as batch:
        batch.add_column(
            sa.Column("items_version", sa.Integer(), server_default="1", nullable=False)
        )
        batch.add_column(
            sa.Column("slots_version", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("annotators") as batch:
        batch.add_column(sa.Column("n_answered", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("n_answered_real", sa.Integer(), server_default="0", nullable=False)
        )
    # The counters start from the votes already cast; the open slots are made on first use
    # (slots_version 0 differs from every items_version).
    op.execute(
        "UPDATE annotators SET "
        "n_answered = (SELECT count(*) FROM votes WHERE votes.annotator_id = annotators.id), "
        "n_answered_real = (SELECT count(*) FROM votes JOIN assignments "
        "ON assignments.id = votes.assignment_id WHERE votes.annotator_id = annotators.id "
        "AND assignments.check_kind IS NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("annotators") as batch:
        batch.drop_column("n_answered_real")
        batch.drop_column("n_answered")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("slots_version")
        batch.drop_column("items_version")
    op.drop_index("ix_study_slots_pair", table_name="study_slots")
    op.drop_index("ix_study_slots_order", table_name="study_slots")
    op.drop_table("study_slots")
