"""task look-ahead: per-annotator answer clock, "can't judge" counter and answer-time total

The task page preloads the annotator's next task, which is claimed while the current one is on
screen; a vote's response time is therefore measured from the annotator's previous answer
(when the task went on screen) or its claim, whichever is later. The counters let the page's
progress (done, time left) be read without a query.

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-04 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

# Each answer's time counts at most this long towards the time-left estimate (a pause is not
# the pace); app/services/task_session.py ANSWER_MS_CAP.
ANSWER_MS_CAP = 120_000  # = app.services.studies.votes.ANSWER_MS_CAP (migrations stand alone)


def upgrade() -> None:
    with op.batch_alter_table("annotators") as batch:
        batch.add_column(sa.Column("n_skipped", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("answer_ms_total", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("last_answer_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE annotators SET "
        "n_skipped = (SELECT count(*) FROM assignments WHERE assignments.annotator_id = "
        "annotators.id AND assignments.skipped_at IS NOT NULL), "
        "answer_ms_total = (SELECT coalesce(sum(CASE WHEN votes.server_ms > "
        f"{ANSWER_MS_CAP} THEN {ANSWER_MS_CAP} ELSE votes.server_ms END), 0) FROM votes "
        "WHERE votes.annotator_id = annotators.id), "
        "last_answer_at = (SELECT max(votes.created_at) FROM votes "
        "WHERE votes.annotator_id = annotators.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("annotators") as batch:
        batch.drop_column("last_answer_at")
        batch.drop_column("answer_ms_total")
        batch.drop_column("n_skipped")
