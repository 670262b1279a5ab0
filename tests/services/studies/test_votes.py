"""Votes called directly: the stored winner follows the stored sides, answers are validated per
study kind, resubmission is idempotent, and the export carries the Chatbot Arena layout."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from app.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from app.models import Assignment, Generator, Vote, utcnow
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.vote_export import export_votes
from app.services.studies.votes import WINNER, submit_vote
from tests.support.humaneval import seed_study


def _task(session, kind="pairwise", **fields):
    study = seed_study(session, kind, generators=2, prompts=2, raters_per_item=2, **fields)
    (a, _), (b, _) = create_invites(session, study, 2, "http://t")
    return study, a, b, next_assignment(session, a)


@pytest.mark.parametrize("choice", ["left", "right", "tie", "both_bad"])
def test_winner_is_resolved_from_the_assignment_sides(session, choice):
    _study, annotator, _other, assignment = _task(session)
    vote = submit_vote(session, annotator, assignment.public_id, choice=choice)
    assert vote.winner == WINNER[choice]
    assert vote.server_ms >= 0 and vote.study_id == assignment.study_id


def test_same_answer_twice_is_one_vote_and_a_changed_answer_conflicts(session):
    _study, annotator, _other, assignment = _task(session)
    first = submit_vote(session, annotator, assignment.public_id, choice="left")
    again = submit_vote(session, annotator, assignment.public_id, choice="left")
    assert again.id == first.id and session.query(Vote).count() == 1
    with pytest.raises(Conflict):
        submit_vote(session, annotator, assignment.public_id, choice="right")


def test_only_the_assignee_can_answer_and_unknown_tasks_are_404(session):
    _study, annotator, other, assignment = _task(session)
    with pytest.raises(Forbidden):
        submit_vote(session, other, assignment.public_id, choice="left")
    with pytest.raises(NotFound):
        submit_vote(session, annotator, "no-such-task", choice="left")
    assert session.query(Vote).count() == 0


def test_an_expired_task_is_gone(session):
    _study, annotator, _other, assignment = _task(session)
    later = assignment.expires_at + timedelta(seconds=1)
    with pytest.raises(Gone):
        submit_vote(session, annotator, assignment.public_id, choice="left", now=later)


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("pairwise", {"choice": "up"}),
        ("pairwise", {"rating": 3}),
        ("rating", {"rating": 6}),
        ("rating", {"rating": "2.5"}),
        ("rating", {"rating": True}),
        ("flag", {"flags": ["not-an-option"]}),
        ("flag", {}),
    ],
)
def test_answers_that_do_not_fit_the_study_kind_are_refused(session, kind, answer):
    _study, annotator, _other, assignment = _task(session, kind)
    with pytest.raises(InvalidInput):
        submit_vote(session, annotator, assignment.public_id, **answer)
    assert session.query(Vote).count() == 0


def test_client_time_out_of_range_is_refused(session):
    _study, annotator, _other, assignment = _task(session)
    with pytest.raises(InvalidInput):
        submit_vote(session, annotator, assignment.public_id, choice="left", client_ms=-5)


def test_export_rows_name_the_generators_on_each_side(session):
    study, annotator, _other, assignment = _task(session)
    submit_vote(session, annotator, assignment.public_id, choice="right", now=utcnow())
    stored = session.get(Assignment, assignment.id)
    left = session.get(Generator, stored.generator_left_id).name
    right = session.get(Generator, stored.generator_right_id).name
    (row,) = list(csv.DictReader(io.StringIO(export_votes(session, study, "csv"))))
    assert (row["model_a"], row["model_b"], row["winner"]) == (left, right, "model_b")
    (line,) = export_votes(session, study, "jsonl").splitlines()
    assert json.loads(line)["model_b"] == right
    with pytest.raises(InvalidInput):
        export_votes(session, study, "xml")
