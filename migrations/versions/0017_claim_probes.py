"""claims as index probes: (annotator, item) indexes, the claim order fully indexed

A claim takes the first free slot of an item the annotator never held and never skipped. It
asked both in one EXISTS with an OR, keyed on the study, which PostgreSQL planned as a join of
every candidate slot against all of the annotator's assignments: 1.4-3 ms per claim after 420
answers (the backend's CPU time per statement), growing with every answer; a new study's rows
are missing from the planner's statistics until the next ANALYZE, so the plan cannot lean on
them. The claim now asks two NOT EXISTS on (annotator, item), each one probe of an index made
for it: ix_assignments_annotator_item, and ix_assignments_annotator_skipped, partial (only
skipped assignments have a skipped_item_key).

The claim order is (position, slot); the slot indexes held only position, so PostgreSQL read
the candidates into an incremental sort (32 rows at least) before taking the first: slot is
now the indexes' last column and the first qualifying row ends the scan.

The indexes are built in the migration's transaction: writes to `assignments` and
`study_slots` wait while the four indexes are built, so on a large database run it while
no study is taking answers.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SKIPPED = sa.text("skipped_item_key IS NOT NULL")


SLOT_ORDER = {
    "ix_study_slots_order": ["study_id", "position"],
    "ix_study_slots_pair": ["study_id", "gen_a", "gen_b", "position"],
}


def _slot_indexes(with_slot: bool) -> None:
    for name, columns in SLOT_ORDER.items():
        op.drop_index(name, table_name="study_slots")
        op.create_index(name, "study_slots", [*columns, "slot"] if with_slot else columns)


def upgrade() -> None:
    _slot_indexes(with_slot=True)
    op.create_index("ix_assignments_annotator_item", "assignments", ["annotator_id", "item_key"])
    op.create_index(
        "ix_assignments_annotator_skipped",
        "assignments",
        ["annotator_id", "skipped_item_key"],
        postgresql_where=SKIPPED,
        sqlite_where=SKIPPED,
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_annotator_skipped", table_name="assignments")
    op.drop_index("ix_assignments_annotator_item", table_name="assignments")
    _slot_indexes(with_slot=False)
