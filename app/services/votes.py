"""Votes: one per assignment, append-only, winner resolved from the sides stored at issue time.

The caller commits before answering the client (SessionDep does), so an acknowledged vote is
durable. A repeated submission with the same answer returns the stored vote and writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from app.models import Annotator, Assignment, Study, Vote, utcnow

CHOICES = ("left", "right", "tie", "both_bad")
# Chatbot Arena (FastChat) battle layout: model_a is the left image's generator.
WINNER = {
    "left": "model_a",
    "right": "model_b",
    "tie": "tie",
    "both_bad": "tie (bothbad)",
}


def _normalise(
    study: Study, choice: str | None, rating: int | str | None, flags: list[str] | None
) -> tuple[str | None, int | None, list[str] | None]:
    """Validate an answer against the study kind; InvalidInput (422) says what is expected."""
    if study.kind == "pairwise":
        if rating is not None or flags is not None:
            raise InvalidInput("a pairwise task takes 'choice' only")
        if choice not in CHOICES:
            raise InvalidInput(f"choice must be one of {', '.join(CHOICES)}; got {choice!r}")
        return choice, None, None
    if study.kind == "rating":
        if choice is not None or flags is not None:
            raise InvalidInput("a rating task takes 'rating' only")
        text = str(rating).strip() if rating is not None else ""
        if isinstance(rating, bool) or text not in {"1", "2", "3", "4", "5"}:
            raise InvalidInput(f"rating must be a whole number from 1 to 5; got {rating!r}")
        value = int(text)
        return None, value, None
    if choice is not None or rating is not None:
        raise InvalidInput("a flag task takes 'flags' only (an empty list means none of these)")
    if flags is None:
        raise InvalidInput("flags is required (send an empty list for 'none of these')")
    unknown = sorted(set(flags) - set(study.flag_options))
    if unknown:
        raise InvalidInput(f"unknown flags {unknown}; the options are {study.flag_options}")
    # Canonical order (the study's), no duplicates: equal answers compare equal.
    return None, None, [option for option in study.flag_options if option in set(flags)]


def _same_answer(
    vote: Vote, choice: str | None, rating: int | None, flags: list[str] | None
) -> bool:
    return vote.choice == choice and vote.rating == rating and vote.flags == flags


def _existing(session: Session, assignment: Assignment) -> Vote | None:
    return session.scalar(select(Vote).where(Vote.assignment_id == assignment.id))


def _settle(existing: Vote, choice, rating, flags) -> Vote:
    if _same_answer(existing, choice, rating, flags):
        return existing
    raise Conflict("this task was already answered with a different answer; answers cannot change")


def submit_vote(
    session: Session,
    annotator: Annotator,
    assignment_public_id: str,
    *,
    choice: str | None = None,
    rating: int | str | None = None,
    flags: list[str] | None = None,
    client_ms: int | None = None,
    now: datetime | None = None,
) -> Vote:
    now = now or utcnow()
    assignment = session.scalar(
        select(Assignment).where(Assignment.public_id == assignment_public_id)
    )
    if assignment is None:
        raise NotFound("no such task; reload the page to get your current task")
    if assignment.annotator_id != annotator.id:
        raise Forbidden("this task was assigned to another annotator")
    study = session.get(Study, assignment.study_id)
    choice, rating, flags = _normalise(study, choice, rating, flags)
    if client_ms is not None and not 0 <= client_ms <= 86_400_000:
        raise InvalidInput("client_ms must be between 0 and 86400000")
    existing = _existing(session, assignment)
    if existing is not None:
        return _settle(existing, choice, rating, flags)
    if study.status != "open":
        raise Conflict(f"this study is {study.status}: it accepts no answers")
    if assignment.expires_at <= now:
        raise Gone("this task expired before it was answered; reload the page for a new one")
    # Claim the assignment row. On PostgreSQL the row lock orders us against a concurrent
    # duplicate submission and against release_expired; the WHERE re-checks after the wait.
    claimed = session.execute(
        update(Assignment)
        .where(
            Assignment.id == assignment.id,
            Assignment.answered_at.is_(None),
            Assignment.expires_at > now,
            Assignment.item_key.is_not(None) | Assignment.check_kind.is_not(None),
        )
        .values(answered_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        session.expire(assignment)
        existing = _existing(session, assignment)
        if existing is not None:
            return _settle(existing, choice, rating, flags)
        raise Gone("this task expired before it was answered; reload the page for a new one")
    session.expire(assignment, ["answered_at"])
    vote = Vote(
        assignment_id=assignment.id,
        study_id=study.id,
        annotator_id=annotator.id,
        choice=choice,
        winner=WINNER[choice] if choice else None,
        rating=rating,
        flags=flags,
        server_ms=max(0, int((now - assignment.issued_at).total_seconds() * 1000)),
        client_ms=client_ms,
        created_at=now,
    )
    session.add(vote)
    session.flush()
    return vote
