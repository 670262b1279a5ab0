"""hot_path.run: the vote path's statements, prepared on PostgreSQL, as SQLAlchemy runs them.

Every statement must read back what SQLAlchemy's own execution gives (types converted both
ways), fail with SQLAlchemy's exceptions (the error handlers answer DataError with a 422), and
run through SQLAlchemy whenever something listens to the engine (statement counts stay true).
"""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session

from app.db import make_engine
from app.models import Assignment, Study, Vote, utcnow
from app.services.studies import hot_path
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.votes import submit_vote
from app.settings import Settings
from tests.support.humaneval import seed_study

VOTES = Vote.__table__
INSERT_VOTE = insert(VOTES).returning(VOTES.c.id, VOTES.c.flags, VOTES.c.created_at)
SET_CHOICE = (
    update(VOTES)
    .where(VOTES.c.id == bindparam("p_id"))
    .values(choice=bindparam("p_choice"))
    .returning(VOTES.c.id, VOTES.c.choice)
)


@pytest.fixture
def answered(session):
    """A flag study's vote (flags are JSON) to copy rows from."""
    study = seed_study(session, "flag", prompts=2)
    ((annotator, _url),) = create_invites(session, study, 1, "http://test")
    task = next_assignment(session, annotator)
    vote = submit_vote(session, annotator, task.public_id, flags=[study.flag_options[0]])
    session.commit()
    return vote


def _row(vote: Vote, **changes) -> dict:
    columns = ("assignment_id", "study_id", "annotator_id", "choice", "winner", "rating")
    row = {c: getattr(vote, c) for c in columns}
    return {**row, "server_ms": 5, "client_ms": None, "created_at": utcnow(), **changes}


def test_rows_read_back_as_sqlalchemy_reads_them(session, answered):
    row = _row(answered, aspect="realism", flags=["blurry", {"note": "ünïcode"}])
    prepared = hot_path.run(session, INSERT_VOTE, row).one()
    assert prepared.flags == ["blurry", {"note": "ünïcode"}]  # JSON both ways
    assert prepared.created_at == row["created_at"]  # an aware datetime, unchanged
    stored = session.execute(select(Vote).where(Vote.id == prepared.id)).scalar_one()
    assert stored.flags == row["flags"] and stored.aspect == "realism"
    assert prepared._asdict() == {
        "id": stored.id,
        "flags": stored.flags,
        "created_at": stored.created_at,
    }
    # A second run of the same statement with the same names: the same prepared form.
    again = hot_path.run(session, INSERT_VOTE, _row(answered, aspect="style", flags=None))
    assert again.scalar_one() > prepared.id
    changed = hot_path.run(session, SET_CHOICE, {"p_id": prepared.id, "p_choice": "tie"}).all()
    assert [tuple(r) for r in changed] == [(prepared.id, "tie")]
    assert hot_path.run(session, SET_CHOICE, {"p_id": -1, "p_choice": "tie"}).first() is None
    session.rollback()


def test_errors_are_sqlalchemys_and_the_transaction_rolls_back(session, answered):
    with pytest.raises(IntegrityError):  # the same (assignment, aspect) twice
        hot_path.run(session, INSERT_VOTE, _row(answered, aspect=None, flags=None))
        hot_path.run(session, INSERT_VOTE, _row(answered, aspect=None, flags=None))
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":  # SQLite does not check lengths
        with pytest.raises(DataError):
            hot_path.run(session, INSERT_VOTE, _row(answered, aspect="a" * 40, flags=None))
        session.rollback()
    with pytest.raises(StatementError, match="p_choice"):
        hot_path.run(session, SET_CHOICE, {"p_id": answered.id})
    session.rollback()
    assert session.scalar(select(Vote.id).where(Vote.aspect.is_not(None))) is None


def test_listeners_see_every_statement(factory, session, answered):
    seen = []
    engine = session.get_bind()
    session.commit()  # the next transaction's connection sees the listener

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", count)
    try:
        hot_path.run(session, SET_CHOICE, {"p_id": answered.id, "p_choice": "left"})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    session.rollback()
    assert seen == ["UPDATE"]


def test_statements_with_python_side_defaults_run_through_sqlalchemy(session, answered):
    """An INSERT missing a column with a Python default (Assignment.public_id) is not prepared:
    SQLAlchemy makes the default."""
    values = {
        "study_id": answered.study_id,
        "annotator_id": answered.annotator_id,
        "issued_at": utcnow(),
        "expires_at": utcnow(),
    }
    table = Assignment.__table__
    statement = insert(table).returning(table.c.public_id)
    assert hot_path.run(session, statement, values).scalar_one()
    session.rollback()


def test_rows_with_duplicate_names_run_through_sqlalchemy(session, answered):
    both = select(Vote.id, Assignment.id).join(Assignment, Assignment.id == Vote.assignment_id)
    row = hot_path.run(session, both.where(Vote.id == bindparam("p_id")), {"p_id": answered.id})
    assert tuple(row.one()) == (answered.id, answered.assignment_id)


def test_conversions_that_need_the_servers_column_type_are_made(session, answered):
    """A FLOAT column's conversion depends on the type the server reports (float or Decimal):
    it is read from the first execution's description, and every execution converts alike."""
    rate = select(Study.attention_check_rate, Study.created_at).where(Study.id == bindparam("p_id"))
    expected = session.get(Study, answered.study_id)
    for _ in range(3):
        found = hot_path.run(session, rate, {"p_id": answered.study_id}).one()
        assert found.attention_check_rate == expected.attention_check_rate
        assert type(found.attention_check_rate) is float
        assert found.created_at == expected.created_at and found.created_at.tzinfo is not None
    if session.get_bind().dialect.driver == "psycopg":  # prepared, not SQLAlchemy's execution
        assert hot_path._PREPARED[(id(rate), ("p_id",))] is not None


def test_attach_makes_an_instance_as_loaded(factory, answered):
    """An attached row is persistent and clean (no statement at flush or commit), its
    relationships load on first use, and a row the session already holds is that instance."""
    table = Study.__table__
    row = select(table).where(table.c.id == bindparam("p_id"))
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with factory() as session:
        values = hot_path.run(session, row, {"p_id": answered.study_id}).one()._asdict()
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            study = hot_path.attach(session, Study, values)
            assert study in session and not session.dirty and not session.new
            session.flush()
            assert seen == []
            assert study.generators  # loaded on first use: one statement
            assert len(seen) == 1
            assert hot_path.attach(session, Study, {**values, "name": "changed"}) is study
            assert study.name == values["name"]
            assert session.get(Study, answered.study_id) is study and len(seen) == 1
            # A change is tracked and written as for a loaded row.
            study.name = "renamed"
            assert study in session.dirty
            session.flush()
            assert len(seen) == 2 and seen[-1].startswith("UPDATE studies")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        session.rollback()  # expires it: read again on use
        assert study.name == values["name"]


def test_attach_loads_a_column_not_given_on_first_use(factory, answered):
    table = Study.__table__
    row = select(table).where(table.c.id == bindparam("p_id"))
    with factory() as session:
        values = hot_path.run(session, row, {"p_id": answered.study_id}).one()._asdict()
        study = hot_path.attach(session, Study, {k: v for k, v in values.items() if k != "name"})
        assert "name" not in study.__dict__ and not session.dirty
        assert study.name == values["name"]  # loaded by a statement, not None
        assert study.instructions == values["instructions"] and not session.dirty


@pytest.mark.postgres
def test_a_lost_server_connection_is_invalidated(_postgres_schema):
    """The server ends the connection mid-transaction (a restart, an administrator): the error
    says so and the pool never hands that connection out again."""
    engine = make_engine(Settings(database_url=_postgres_schema))
    try:
        with Session(engine) as session:
            backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            with pytest.raises(OperationalError) as lost:
                hot_path.run(session, SET_CHOICE, {"p_id": -1, "p_choice": "left"})
            assert lost.value.connection_invalidated
            session.rollback()
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    finally:
        engine.dispose()
