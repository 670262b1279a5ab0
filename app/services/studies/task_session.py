"""An annotator session's run of tasks: "can't judge" answers and a progress total that stays put.

"Can't judge" closes a task without a vote: no vote row is written (so no statistic ever sees
it), the item's slot goes back to the pool for other annotators, and the item is never shown to
this annotator again. The progress total is fixed when a session is first shown a task: the
answers so far, the real items then open to the annotator and the attention checks expected
among them. Tasks stop when the total is reached, so the number shown never grows; it can end
early (other annotators took the last items), which the thank-you page says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, Forbidden, Gone, NotFound
from app.models import Annotator, AnnotatorSession, Assignment, Study, Vote, utcnow
from app.models.enums import StudyStatus
from app.services.studies import slots
from app.services.studies.assignment import forget_ahead, progress


@dataclass(frozen=True)
class SessionProgress:
    done: int  # votes and "can't judge" answers of this annotator
    total: int  # fixed for the session
    seconds_left: int | None  # None until the annotator has answered something

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def _done(annotator: Annotator) -> int:
    """Votes plus "can't judge" answers (both maintained counters: no query)."""
    return annotator.n_answered + annotator.n_skipped


def expected_checks(study: Study, real_tasks: int) -> int:
    """Attention checks expected among `real_tasks`: each task after the first is a check with
    probability `attention_check_rate`, so a real task brings rate / (1 - rate) checks."""
    rate = study.attention_check_rate
    if real_tasks <= 0 or rate <= 0:
        return 0
    if rate >= 1:
        return real_tasks
    return round(real_tasks * rate / (1 - rate))


def session_progress(
    session: Session, viewer: AnnotatorSession, *, now: datetime | None = None
) -> SessionProgress:
    """Where this session stands; the first call fixes its total (flushed, not committed)."""
    annotator = viewer.annotator
    study = session.get(Study, annotator.study_id)
    done = _done(annotator)
    if viewer.planned_total is None:
        slots.ensure_slots(session, study)  # the pool's open slots are what is left to them
        answered, target = progress(session, annotator, now=now)
        real_left = max(0, target - answered)
        viewer.planned_total = done + real_left + expected_checks(study, real_left)
        session.flush()
    total = max(viewer.planned_total, done)
    seconds_left = None
    if annotator.n_answered:
        # The annotator's mean answer time (each answer capped: a pause is not their pace).
        mean_ms = annotator.answer_ms_total / annotator.n_answered
        seconds_left = math.ceil(mean_ms / 1000 * (total - done))
    return SessionProgress(done=done, total=total, seconds_left=seconds_left)


def skip_assignment(
    session: Session,
    annotator: Annotator,
    assignment_public_id: str,
    *,
    now: datetime | None = None,
) -> Assignment:
    """Record "can't judge" for an open task; a repeated request for the same task is a no-op."""
    now = now or utcnow()
    assignment = session.scalar(
        select(Assignment).where(Assignment.public_id == assignment_public_id)
    )
    if assignment is None:
        raise NotFound("no such task; reload the page to get your current task")
    if assignment.annotator_id != annotator.id:
        raise Forbidden("this task was assigned to another annotator")
    if assignment.skipped_at is not None:
        return assignment
    study = session.get(Study, assignment.study_id)
    if study.status != StudyStatus.open:
        raise Conflict(f"this study is {study.status}: it accepts no answers")
    # The slot goes back to the pool (other annotators) when the skip wins the claim below.
    slot = _slot_of(assignment)
    # The same conditional claim as a vote (votes.submit_vote): whichever comes first wins.
    claimed = session.execute(
        update(Assignment)
        .where(
            Assignment.id == assignment.id,
            Assignment.answered_at.is_(None),
            Assignment.expires_at > now,
            Assignment.item_key.is_not(None) | Assignment.check_kind.is_not(None),
        )
        .values(
            answered_at=now,
            skipped_at=now,
            skipped_item_key=Assignment.item_key,
            item_key=None,
            slot=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(assignment)
    if claimed:
        if slot is not None:
            slots.return_slot(session, study, slot)
        _count_skip(session, annotator, now)
        return assignment
    if assignment.skipped_at is not None:
        return assignment
    if session.scalar(select(Vote.id).where(Vote.assignment_id == assignment.id)) is not None:
        raise Conflict("this task was already answered; answers cannot change")
    raise Gone("this task expired before it was answered; reload the page for a new one")


def _count_skip(session: Session, annotator: Annotator, now: datetime) -> None:
    """The skip counter and the answer clock (the next task goes on screen now)."""
    people = Annotator.__table__
    (skipped,) = session.execute(
        update(people)
        .where(people.c.id == annotator.id)
        .values(n_skipped=people.c.n_skipped + 1, last_answer_at=now)
        .returning(people.c.n_skipped)
    ).one()
    set_committed_value(annotator, "n_skipped", skipped)
    set_committed_value(annotator, "last_answer_at", now)


def _slot_of(assignment: Assignment) -> slots.ClaimedSlot | None:
    """The pool slot a real item's assignment holds (None for attention checks)."""
    if assignment.item_key is None or assignment.slot is None:
        return None
    gen_a, gen_b = slots.slot_generators(
        assignment.generator_id, assignment.generator_left_id, assignment.generator_right_id
    )
    # Back at the front of the order, as an expired claim is.
    return slots.ClaimedSlot(
        assignment.item_key, assignment.slot, assignment.prompt_id, gen_a, gen_b, -1
    )


def release_open(session: Session, study: Study, annotator: Annotator) -> int:
    """The session is over: every task the annotator still holds (the one just claimed, the
    task held ahead, any left by another tab) expires now and its slot returns to the pool."""
    now = utcnow()
    held = list(
        session.scalars(
            update(Assignment)
            .where(
                Assignment.annotator_id == annotator.id,
                Assignment.answered_at.is_(None),
                Assignment.expires_at > now,
            )
            .values(expires_at=now)
            .returning(Assignment.public_id)
            .execution_options(synchronize_session=False)
        )
    )
    for public_id in held:
        forget_ahead(session, public_id)
    for row in session.identity_map.values():
        if isinstance(row, Assignment) and row.public_id in held:
            session.expire(row, ["expires_at"])
    if held:
        slots.release_expired(session, study, now)
    return len(held)
