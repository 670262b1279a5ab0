"""study validity: per-study exclusion rule and vote-share cap, a reference set for attention
checks, and administrators' exclusion overrides (replacing the manual-only `excluded` flag)

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None

# (column, type, default for existing rows); the server defaults only fill existing rows and are
# dropped afterwards: the application sets every value.
STUDY_COLUMNS = (
    ("min_attention_checks", sa.Integer(), "5", False),
    ("min_attention_accuracy", sa.Float(), "0.8", True),
    ("min_repeat_consistency", sa.Float(), "0.5", True),
    ("min_loo_agreement", sa.Float(), "0.35", True),
    ("min_median_response_s", sa.Float(), "1.0", True),
    ("max_vote_share", sa.Float(), "0.2", False),
)


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("reference_set_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_studies_reference_set_id", "reference_sets", ["reference_set_id"], ["id"]
        )
        for name, type_, default, nullable in STUDY_COLUMNS:
            batch.add_column(
                sa.Column(name, type_, nullable=nullable, server_default=sa.text(default))
            )
        batch.create_check_constraint("study_min_checks_positive", "min_attention_checks >= 1")
        batch.create_check_constraint(
            "study_vote_share_unit", "max_vote_share > 0 AND max_vote_share <= 1"
        )
    # Exact agreement on a 1-5 score is not expected of honest raters (as before this revision).
    op.execute("UPDATE studies SET min_loo_agreement = NULL WHERE kind = 'rating'")
    with op.batch_alter_table("studies") as batch:
        for name, type_, _default, nullable in STUDY_COLUMNS:
            batch.alter_column(
                name, existing_type=type_, existing_nullable=nullable, server_default=None
            )

    with op.batch_alter_table("annotators") as batch:
        batch.add_column(sa.Column("exclusion_override", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("exclusion_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("exclusion_set_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            "annotator_override_known",
            "exclusion_override IS NULL OR exclusion_override IN ('exclude', 'reinstate')",
        )
    op.execute(
        "UPDATE annotators SET exclusion_override = 'exclude', "
        "exclusion_note = 'excluded by an administrator' WHERE excluded"
    )
    with op.batch_alter_table("annotators") as batch:
        batch.drop_column("excluded")


def downgrade() -> None:
    with op.batch_alter_table("annotators") as batch:
        batch.add_column(
            sa.Column("excluded", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE annotators SET excluded = (exclusion_override = 'exclude')")
    op.execute("UPDATE annotators SET excluded = false WHERE excluded IS NULL")
    with op.batch_alter_table("annotators") as batch:
        batch.alter_column("excluded", existing_type=sa.Boolean(), server_default=None)
        batch.drop_constraint("annotator_override_known", type_="check")
        batch.drop_column("exclusion_set_at")
        batch.drop_column("exclusion_note")
        batch.drop_column("exclusion_override")
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint("study_vote_share_unit", type_="check")
        batch.drop_constraint("study_min_checks_positive", type_="check")
        batch.drop_constraint("fk_studies_reference_set_id", type_="foreignkey")
        for name, *_rest in reversed(STUDY_COLUMNS):
            batch.drop_column(name)
        batch.drop_column("reference_set_id")
