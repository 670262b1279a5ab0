"""The claim's plan: one index probe per candidate slot, whatever the annotator has answered.

A claim's cost must not grow with the annotator's history. The "never held, never skipped"
conditions were one EXISTS with an OR, which PostgreSQL ran as a join of every candidate slot
against all of the annotator's assignments (1.4-3 ms per claim after 420 answers).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from app.services.studies import slots
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.votes import submit_vote
from tests.support.humaneval import seed_study


def _plan(session, annotator) -> str:
    """The plan of the pair claim for `annotator`, as the database would run it now."""
    dialect = session.get_bind().dialect.name
    compiled = slots._CLAIM_OF_PAIR.compile(
        dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    )
    gen_a, gen_b = session.execute(
        text("SELECT gen_a, gen_b FROM study_slots WHERE study_id = :s LIMIT 1"),
        {"s": annotator.study_id},
    ).one()
    params = {
        **compiled.params,
        "p_study": annotator.study_id,
        "p_annotator": annotator.id,
        "p_gen_a": gen_a,
        "p_gen_b": gen_b,
    }
    connection = session.connection()
    if dialect == "postgresql":
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", params).all()
        return "\n".join(row[0] for row in rows)
    values = tuple(params[name] for name in compiled.positiontup)
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values).all()
    return "\n".join(row[-1] for row in rows)


def test_a_claim_probes_the_annotators_items_per_candidate(factory):
    with factory() as session:
        study = seed_study(session, generators=3, prompts=20)
        ((annotator, _url),) = create_invites(session, study, 1, "http://test")
        for _ in range(25):
            task = next_assignment(session, annotator)
            submit_vote(session, annotator, task.public_id, choice="left")
        session.commit()
        plan = _plan(session, annotator)
        session.rollback()
    if "QUERY PLAN" in plan or "SEARCH" in plan or "SCAN" in plan:  # SQLite
        assert "ix_assignments_annotator_item (annotator_id=? AND item_key=?)" in plan, plan
        assert "ix_assignments_annotator_skipped" in plan, plan
    else:
        assert "Join" not in plan, plan  # no join over all of the annotator's assignments
        assert "Index Scan using ix_assignments_annotator_item" in plan, plan
        assert "Index Scan using ix_assignments_annotator_skipped" in plan, plan
        assert "Sort" not in plan, plan  # the first qualifying slot ends the scan


def test_postgresql_plans_the_claim_once(factory):
    """The claim is planned once per connection (a generic plan), not on every execution: its
    LIMIT and OFFSET are written into the SQL. As parameters, PostgreSQL could not cost the
    prepared statement's generic plan and planned it again for every claim (0.2-0.3 ms of its
    CPU per vote, more than the claim's own execution)."""
    with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            return  # SQLite plans every statement: nothing to keep
        study = seed_study(session, generators=4, prompts=60)
        ((annotator, _url),) = create_invites(session, study, 1, "http://test")
        slots.ensure_slots(session, study)
        session.commit()
        # psycopg prepares a statement at its 5th execution on a connection, PostgreSQL plans
        # the first 5 executions of a prepared statement for their values, then chooses.
        for _ in range(15):
            assert slots.claim_slot(session, study, annotator.id) is not None
        plans = session.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'DELETE FROM study_slots%'"
            )
        ).all()
        session.rollback()
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    assert generic >= 5 and custom <= 5, plans
