"""Aspects on the vote path: one vote per aspect of a task, all required, stored in one INSERT;
re-sends settle per aspect; the annotator's counters count the task once."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from app.errors import Conflict, InvalidInput
from app.media import MediaStore
from app.models import Annotator, Vote
from app.services.studies.assignment import answer_and_continue, next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.votes import recount_answers, submit_vote
from tests.support.humaneval import seed_study

ASPECTS = [
    {"key": "prompt", "question": "Which matches the prompt?"},
    {"key": "realism", "question": "Which looks more realistic?"},
    {"key": "aesthetics", "question": "Which is more aesthetic?"},
]


def _task(session, kind="pairwise", aspects=ASPECTS):
    study = seed_study(session, kind, generators=2, prompts=2, raters_per_item=2, aspects=aspects)
    (a, _), _other = create_invites(session, study, 2, "http://t")
    return study, a, next_assignment(session, a)


def _votes(session, assignment):
    rows = session.scalars(
        select(Vote).where(Vote.assignment_id == assignment.id).order_by(Vote.id)
    )
    return {v.aspect: (v.choice, v.rating, v.winner) for v in rows}


def test_a_pairwise_task_stores_one_vote_per_aspect(session):
    _study, annotator, assignment = _task(session)
    answers = {"prompt": "left", "realism": "right", "aesthetics": "tie"}
    first = submit_vote(session, annotator, assignment.public_id, aspects=answers)
    assert first.aspect == "prompt"
    assert _votes(session, assignment) == {
        "prompt": ("left", None, "model_a"),
        "realism": ("right", None, "model_b"),
        "aesthetics": ("tie", None, "tie"),
    }


def test_every_aspect_must_be_answered_and_the_message_names_the_missing_one(session):
    _study, annotator, assignment = _task(session)
    with pytest.raises(InvalidInput, match=r"realism \(Which looks more realistic"):
        submit_vote(
            session,
            annotator,
            assignment.public_id,
            aspects={"prompt": "left", "aesthetics": "tie"},
        )
    with pytest.raises(InvalidInput, match="unknown aspects"):
        submit_vote(session, annotator, assignment.public_id, aspects={**_all("left"), "x": "left"})
    with pytest.raises(InvalidInput, match="one answer per aspect"):
        submit_vote(session, annotator, assignment.public_id, choice="left")
    with pytest.raises(InvalidInput, match="choice must be one of"):
        submit_vote(session, annotator, assignment.public_id, aspects=_all("up"))
    assert session.query(Vote).count() == 0


def _all(value):
    return {a["key"]: value for a in ASPECTS}


def test_a_resend_is_idempotent_and_a_change_on_any_aspect_conflicts(session):
    _study, annotator, assignment = _task(session)
    answers = {"prompt": "left", "realism": "right", "aesthetics": "tie"}
    first = submit_vote(session, annotator, assignment.public_id, aspects=answers)
    again = submit_vote(session, annotator, assignment.public_id, aspects=dict(answers))
    assert again.id == first.id and session.query(Vote).count() == 3
    with pytest.raises(Conflict, match=r"\(realism\)"):
        submit_vote(
            session, annotator, assignment.public_id, aspects={**answers, "realism": "left"}
        )
    assert session.query(Vote).count() == 3


def test_the_counters_count_the_task_once(session):
    study, annotator, assignment = _task(session)
    submit_vote(session, annotator, assignment.public_id, aspects=_all("left"))
    session.flush()
    assert (annotator.n_answered, annotator.n_answered_real) == (1, 1)
    total = annotator.answer_ms_total
    recount_answers(session, study.id)
    session.refresh(annotator)
    assert (annotator.n_answered, annotator.n_answered_real) == (1, 1)
    assert annotator.answer_ms_total == total


def test_a_rating_task_stores_one_rating_per_aspect(session):
    aspects = ASPECTS[:2]
    _study, annotator, assignment = _task(session, "rating", aspects)
    submit_vote(session, annotator, assignment.public_id, aspects={"prompt": "5", "realism": 2})
    assert _votes(session, assignment) == {
        "prompt": (None, 5, None),
        "realism": (None, 2, None),
    }
    with pytest.raises(Conflict):
        submit_vote(session, annotator, assignment.public_id, aspects={"prompt": 5, "realism": 3})


def test_a_single_question_study_refuses_aspects(session):
    study = seed_study(session, "pairwise", generators=2, prompts=2, raters_per_item=2)
    ((a, _),) = create_invites(session, study, 1, "http://t")
    assignment = next_assignment(session, a)
    with pytest.raises(InvalidInput, match="asks one question"):
        submit_vote(session, a, assignment.public_id, aspects={"prompt": "left"})
    vote = submit_vote(session, a, assignment.public_id, choice="left")
    assert vote.aspect is None


def test_the_vote_path_adds_no_statement_for_aspects(session, settings):
    """Every aspect's vote in one INSERT: the same statements as a single-question answer."""
    study, annotator, assignment = _task(session)
    store = MediaStore(settings.media_dir)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        step = answer_and_continue(
            session, store, study, annotator, None, assignment.public_id, aspects=_all("right")
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [v.aspect for v in step.votes] == ["prompt", "realism", "aesthetics"]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO VOTES")]
    assert len(inserts) == 1
    assert session.get(Annotator, annotator.id).n_answered == 1
