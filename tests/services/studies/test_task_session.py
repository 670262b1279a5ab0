"""An annotator session's run of tasks: "can't judge" is never a vote and frees the item; the
progress total is fixed for the session (attention checks included) and tasks stop there."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from app.errors import Conflict, Forbidden, Gone
from app.models import Assignment, Vote, utcnow
from app.services.studies.annotator_sessions import start_session
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.task_session import expected_checks, session_progress, skip_assignment
from app.services.studies.votes import submit_vote
from tests.support.humaneval import seed_study


def _annotators(session, study, n):
    return [a for a, _url in create_invites(session, study, n, "http://test")]


def test_cant_judge_is_no_vote_and_returns_the_item_to_the_pool(session):
    study = seed_study(session, generators=2, prompts=1, raters_per_item=1)
    first, second = _annotators(session, study, 2)
    task = next_assignment(session, first)
    key = task.item_key
    # The only slot is taken: the second annotator has nothing to do.
    assert next_assignment(session, second) is None
    skip_assignment(session, first, task.public_id)
    skip_assignment(session, first, task.public_id)  # a repeated request is a no-op
    session.refresh(task)
    assert task.skipped_at is not None and task.skipped_item_key == key and task.item_key is None
    assert session.scalar(select(func.count()).select_from(Vote)) == 0
    # Never shown again to the annotator who could not judge it ...
    assert next_assignment(session, first) is None
    # ... but back in the pool for everyone else.
    again = next_assignment(session, second)
    assert again is not None and again.item_key == key
    # A vote on the skipped task is refused: it is closed.
    with pytest.raises(Gone):
        submit_vote(session, first, task.public_id, choice="left")


def test_cant_judge_refuses_other_annotators_and_answered_or_expired_tasks(session):
    study = seed_study(session, generators=2, prompts=2, raters_per_item=1)
    first, second = _annotators(session, study, 2)
    task = next_assignment(session, first)
    with pytest.raises(Forbidden):
        skip_assignment(session, second, task.public_id)
    submit_vote(session, first, task.public_id, choice="tie")
    with pytest.raises(Conflict):
        skip_assignment(session, first, task.public_id)
    later = next_assignment(session, first)
    with pytest.raises(Gone):
        skip_assignment(session, first, later.public_id, now=utcnow() + timedelta(days=1))


def test_expected_checks_follow_the_check_rate():
    class Study:
        attention_check_rate = 0.2

    assert expected_checks(Study, 8) == 2  # 8 x 0.2 / 0.8
    assert expected_checks(Study, 0) == 0
    Study.attention_check_rate = 0.0
    assert expected_checks(Study, 10) == 0


def test_the_total_stays_fixed_through_checks_skips_and_other_annotators(session):
    study = seed_study(
        session, generators=3, prompts=6, raters_per_item=2, attention_check_rate=0.25
    )
    me, other = _annotators(session, study, 2)
    viewer, _token = start_session(session, me)
    start = session_progress(session, viewer)
    assert start.done == 0 and start.seconds_left is None
    # 18 pairwise items, one slot each for me, plus 18 x 0.25 / 0.75 = 6 expected checks.
    assert start.total == 18 + 6
    rng = np.random.default_rng(3)
    totals, n = set(), 0
    while not session_progress(session, viewer).finished:
        task = next_assignment(session, me, rng=rng)
        if task is None:
            break
        if n % 5 == 4:
            skip_assignment(session, me, task.public_id)
        else:
            submit_vote(session, me, task.public_id, choice="left")
        # Another annotator takes items meanwhile: my total does not move.
        theirs = next_assignment(session, other, rng=rng)
        if theirs is not None:
            submit_vote(session, other, theirs.public_id, choice="right")
        standing = session_progress(session, viewer)
        totals.add(standing.total)
        n += 1
        assert standing.done == n
        assert standing.seconds_left is not None and standing.seconds_left >= 0
    assert totals == {24}
    assert n <= 24
    skipped = session.scalar(
        select(func.count()).where(
            Assignment.skipped_at.is_not(None), Assignment.annotator_id == me.id
        )
    )
    votes = session.scalar(select(func.count()).where(Vote.annotator_id == me.id))
    assert skipped >= 1 and votes + skipped == n
    # A new session (the invite opened again) plans from where the annotator stands.
    fresh, _token = start_session(session, me)
    assert session_progress(session, fresh).done == n
