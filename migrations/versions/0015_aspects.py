"""aspects: several questions per task (e.g. prompt match, realism, aesthetics)

A study may list aspects (`studies.aspects`: [{"key", "question"}, ...]; NULL: the study's one
question, as before). A task of such a study is answered once per aspect, each answer its own
vote row carrying the aspect's key, so one vote per assignment becomes one per (assignment,
aspect); a single-question study's votes keep aspect NULL, and a partial unique index keeps
them one per assignment (NULLs are distinct in a plain unique constraint).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# JSONB on PostgreSQL, JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# The unnamed UNIQUE (assignment_id) of revision 0004: PostgreSQL named it; SQLite's batch mode
# finds it by this naming convention.
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "votes_assignment_id_key"
    return "uq_votes_assignment_id"


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("aspects", JSON, nullable=True))
    with op.batch_alter_table("votes", naming_convention=SQLITE_NAMES) as batch:
        batch.add_column(sa.Column("aspect", sa.String(length=32), nullable=True))
        batch.drop_constraint(_old_unique_name(), type_="unique")
        batch.create_unique_constraint("uq_votes_assignment_aspect", ["assignment_id", "aspect"])
        batch.create_index(
            "uq_votes_assignment_whole",
            ["assignment_id"],
            unique=True,
            sqlite_where=sa.text("aspect IS NULL"),
            postgresql_where=sa.text("aspect IS NULL"),
        )


def downgrade() -> None:
    # Only the first aspect's answer of an aspect study survives (one vote per assignment).
    op.execute(
        "DELETE FROM votes WHERE aspect IS NOT NULL AND id NOT IN "
        "(SELECT min(id) FROM votes WHERE aspect IS NOT NULL GROUP BY assignment_id)"
    )
    with op.batch_alter_table("votes", naming_convention=SQLITE_NAMES) as batch:
        batch.drop_index("uq_votes_assignment_whole")
        batch.drop_constraint("uq_votes_assignment_aspect", type_="unique")
        batch.create_unique_constraint(_old_unique_name(), ["assignment_id"])
        batch.drop_column("aspect")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("aspects")
