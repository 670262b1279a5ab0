"""Votes: one per assignment, append-only, winner resolved from the sides stored at issue time.

The caller commits before answering the client (SessionDep does), so an acknowledged vote is
durable. A repeated submission with the same answer returns the stored vote and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, cast, extract, func, insert, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from app.models import Annotator, Assignment, Study, Vote, utcnow
from app.models.enums import PairPolicy, StudyKind, StudyStatus
from app.services.studies import pair_policy
from app.services.studies.aspects import primary_votes, split_answers
from app.services.studies.hot_path import run

CHOICES = ("left", "right", "tie", "both_bad")

# Each answer counts at most two minutes towards the annotator's answer-time total (the task
# page's time-left estimate): a pause is not the annotator's pace.
ANSWER_MS_CAP = 120_000
# Chatbot Arena (FastChat) battle layout: model_a is the left image's generator.
WINNER = {
    "left": "model_a",
    "right": "model_b",
    "tie": "tie",
    "both_bad": "tie (bothbad)",
}

# The vote path's statements, built once (app/services/studies/hot_path.py).
_ASSIGNMENTS = Assignment.__table__
_VOTES = Vote.__table__
_PEOPLE = Annotator.__table__
# Claims the assignment for this answer: only the annotator's own, open, unexpired task.
_MARK_ANSWERED = (
    update(_ASSIGNMENTS)
    .where(
        _ASSIGNMENTS.c.public_id == bindparam("p_public_id"),
        _ASSIGNMENTS.c.annotator_id == bindparam("p_annotator"),
        _ASSIGNMENTS.c.answered_at.is_(None),
        _ASSIGNMENTS.c.expires_at > bindparam("p_now", type_=_ASSIGNMENTS.c.expires_at.type),
        _ASSIGNMENTS.c.item_key.is_not(None) | _ASSIGNMENTS.c.check_kind.is_not(None),
    )
    .values(answered_at=bindparam("p_answered_at", type_=_ASSIGNMENTS.c.answered_at.type))
    .returning(
        _ASSIGNMENTS.c.id,
        _ASSIGNMENTS.c.issued_at,
        _ASSIGNMENTS.c.check_kind,
        _ASSIGNMENTS.c.generator_left_id,
        _ASSIGNMENTS.c.generator_right_id,
    )
)
_INSERT_VOTE = insert(_VOTES).returning(_VOTES.c.id)
_COUNT_ANSWER = (
    update(_PEOPLE)
    .where(_PEOPLE.c.id == bindparam("p_annotator"))
    .values(
        n_answered=_PEOPLE.c.n_answered + 1,
        n_answered_real=_PEOPLE.c.n_answered_real + bindparam("p_real"),
        answer_ms_total=_PEOPLE.c.answer_ms_total + bindparam("p_ms"),
        last_answer_at=bindparam("p_now", type_=_PEOPLE.c.last_answer_at.type),
    )
    .returning(_PEOPLE.c.n_answered, _PEOPLE.c.n_answered_real, _PEOPLE.c.answer_ms_total)
)

# The same three writes as one statement on PostgreSQL (data-modifying CTEs, one round trip
# instead of three: ~0.2 ms of the server's CPU and as much of PostgreSQL's per vote). The
# claim's row lock and re-check are the UPDATE's own, as above; the vote and the count happen
# only when it matched, and the server's time on screen is computed as `_server_ms` does.
_CLAIMED = _MARK_ANSWERED.returning(_ASSIGNMENTS.c.annotator_id).cte("claimed")
_SHOWN = func.greatest(
    _CLAIMED.c.issued_at, cast(bindparam("p_last"), _PEOPLE.c.last_answer_at.type)
)
_NOW = cast(bindparam("p_now"), _ASSIGNMENTS.c.expires_at.type)
_TIMED = select(
    *_CLAIMED.c,
    cast(
        func.greatest(0, func.floor(extract("epoch", _NOW - _SHOWN) * 1000)),
        _VOTES.c.server_ms.type,
    ).label("server_ms"),
).cte("timed")
_VOTE_COLUMNS = ("aspect", "choice", "winner", "rating", "flags", "client_ms")
_STORED = (
    insert(_VOTES)
    .from_select(
        ["assignment_id", "study_id", "annotator_id", *_VOTE_COLUMNS, "server_ms", "created_at"],
        select(
            _TIMED.c.id,
            cast(bindparam("p_study"), _VOTES.c.study_id.type),
            cast(bindparam("p_annotator"), _VOTES.c.annotator_id.type),
            *(
                cast(bindparam(f"p_{name}", type_=_VOTES.c[name].type), _VOTES.c[name].type)
                for name in _VOTE_COLUMNS
            ),
            _TIMED.c.server_ms,
            _NOW,
        ),
    )
    .returning(_VOTES.c.id)
    .cte("stored")
)
_COUNTED = (
    update(_PEOPLE)
    .where(_PEOPLE.c.id == _TIMED.c.annotator_id)
    .values(
        n_answered=_PEOPLE.c.n_answered + 1,
        n_answered_real=_PEOPLE.c.n_answered_real
        + case((_TIMED.c.check_kind.is_(None), 1), else_=0),
        answer_ms_total=_PEOPLE.c.answer_ms_total + func.least(_TIMED.c.server_ms, ANSWER_MS_CAP),
        last_answer_at=_NOW,
    )
    .returning(_PEOPLE.c.n_answered, _PEOPLE.c.n_answered_real, _PEOPLE.c.answer_ms_total)
    .cte("counted")
)
_ANSWER_IN_ONE = select(
    _TIMED.c.id,
    _TIMED.c.issued_at,
    _TIMED.c.check_kind,
    _TIMED.c.generator_left_id,
    _TIMED.c.generator_right_id,
    _TIMED.c.server_ms,
    _STORED.c.id.label("vote_id"),
    _COUNTED.c.n_answered,
    _COUNTED.c.n_answered_real,
    _COUNTED.c.answer_ms_total,
).select_from(_TIMED.outerjoin(_STORED, true()).outerjoin(_COUNTED, true()))


def _server_ms(issued_at: datetime, last_answer_at: datetime | None, now: datetime) -> int:
    """Milliseconds the task was on screen: since the later of its claim and the annotator's
    previous answer (the task page claims the next task ahead of time, preloading its images,
    while this one is shown). Whole milliseconds, rounded down, in integer arithmetic (as
    PostgreSQL's numeric does in `_ANSWER_IN_ONE`)."""
    shown_at = issued_at
    if last_answer_at is not None and last_answer_at > shown_at:
        shown_at = last_answer_at
    return max(0, (now - shown_at) // timedelta(milliseconds=1))


def _normalise(
    study: Study, choice: str | None, rating: int | str | None, flags: list[str] | None
) -> tuple[str | None, int | None, list[str] | None]:
    """Validate an answer against the study kind; InvalidInput (422) says what is expected."""
    if study.kind == StudyKind.pairwise:
        if rating is not None or flags is not None:
            raise InvalidInput("a pairwise task takes 'choice' only")
        if choice not in CHOICES:
            raise InvalidInput(f"choice must be one of {', '.join(CHOICES)}; got {choice!r}")
        return choice, None, None
    if study.kind == StudyKind.rating:
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


# One answer: (aspect, choice, rating, flags); aspect None in a single-question study.
Answer = tuple[str | None, str | None, int | None, list[str] | None]


def _answers(
    study: Study,
    choice: str | None,
    rating: int | str | None,
    flags: list[str] | None,
    aspects: dict[str, Any] | None,
) -> list[Answer]:
    """The answers a task's submission holds: one, or one per aspect (all required)."""
    if not study.aspects:
        if aspects:
            raise InvalidInput("this study asks one question: send 'choice' or 'rating' only")
        return [(None, *_normalise(study, choice, rating, flags))]
    if choice is not None or rating is not None or flags is not None:
        raise InvalidInput("this study asks several questions: send one answer per aspect")
    out: list[Answer] = []
    for key, value in split_answers(study, aspects):
        if study.kind == StudyKind.pairwise:
            normalised = _normalise(study, value, None, None)
        else:
            normalised = _normalise(study, None, value, None)
        out.append((key, *normalised))
    return out


def _existing(session: Session, assignment: Assignment) -> list[Vote]:
    return list(
        session.scalars(select(Vote).where(Vote.assignment_id == assignment.id).order_by(Vote.id))
    )


def _settle(existing: list[Vote], answers: list[Answer]) -> list[Vote]:
    """A re-send: the stored votes when every answer is the same, else 409 naming what changed."""
    stored = {vote.aspect: (vote.choice, vote.rating, vote.flags) for vote in existing}
    changed = [a[0] for a in answers if stored.get(a[0]) != tuple(a[1:])]
    if not changed:
        by_aspect = {vote.aspect: vote for vote in existing}
        return [by_aspect[a[0]] for a in answers]
    which = "" if changed == [None] else f" ({', '.join(str(key) for key in changed)})"
    raise Conflict(
        f"this task was already answered with a different answer{which}; answers cannot change"
    )


@dataclass(frozen=True)
class Recorded:
    votes: list[Vote]  # one, or one per aspect in the study's order
    created: bool  # False: an idempotent re-send of a stored answer

    @property
    def vote(self) -> Vote:
        """The task's (first aspect's) vote."""
        return self.votes[0]


def submit_vote(
    session: Session,
    annotator: Annotator,
    assignment_public_id: str,
    *,
    choice: str | None = None,
    rating: int | str | None = None,
    flags: list[str] | None = None,
    aspects: dict[str, Any] | None = None,
    client_ms: int | None = None,
    now: datetime | None = None,
) -> Vote:
    study = session.get(Study, annotator.study_id)
    return record_vote(
        session,
        study,
        annotator,
        assignment_public_id,
        choice=choice,
        rating=rating,
        flags=flags,
        aspects=aspects,
        client_ms=client_ms,
        now=now,
    ).vote


def record_vote(
    session: Session,
    study: Study,
    annotator: Annotator,
    assignment_public_id: str,
    *,
    choice: str | None = None,
    rating: int | str | None = None,
    flags: list[str] | None = None,
    aspects: dict[str, Any] | None = None,
    client_ms: int | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Store the answer to one of the annotator's tasks: three writes when it is new (mark
    the assignment answered, insert the vote, count it on the annotator), one statement on
    PostgreSQL for a single answer (`_ANSWER_IN_ONE`), three otherwise. A study with aspects
    takes `aspects` ({key: choice or rating}, every aspect answered) and stores one vote per
    aspect in the same one INSERT; the annotator's counters count the task once.

    The conditional UPDATE claims the assignment: on PostgreSQL its row lock orders a concurrent
    duplicate submission and release_expired; the WHERE re-checks after the wait, so exactly one
    vote is stored. Anything that does not match (unknown, someone else's, answered, expired,
    released) is sorted out afterwards, off the common path."""
    now = now or utcnow()
    if annotator.study_id != study.id:
        raise Forbidden("you are not signed in to this study: open your invite link again")
    answers = _answers(study, choice, rating, flags, aspects)
    if client_ms is not None and not 0 <= client_ms <= 86_400_000:
        raise InvalidInput("client_ms must be between 0 and 86400000")
    if study.status == StudyStatus.open:
        params = {
            "p_public_id": assignment_public_id,
            "p_annotator": annotator.id,
            "p_now": now,
            "p_answered_at": now,
        }
        if len(answers) == 1 and session.get_bind().dialect.name == "postgresql":
            stored = _store_in_one(session, study, annotator, params, answers[0], client_ms)
            if stored is not None:
                return Recorded(stored, True)
        else:
            claimed = run(session, _MARK_ANSWERED, params).first()
            if claimed is not None:
                return Recorded(
                    _insert(session, study, annotator, claimed, answers, client_ms, now), True
                )
    return Recorded(_not_claimed(session, study, annotator, assignment_public_id, answers), False)


def _vote_row(study, annotator, assignment_id, answer: Answer, server_ms, client_ms, now) -> dict:
    aspect, choice, rating, flags = answer
    return {
        "assignment_id": assignment_id,
        "study_id": study.id,
        "annotator_id": annotator.id,
        "aspect": aspect,
        "choice": choice,
        "winner": WINNER[choice] if choice else None,
        "rating": rating,
        "flags": flags,
        "server_ms": server_ms,
        "client_ms": client_ms,
        "created_at": now,
    }


def _store_in_one(
    session, study, annotator, params, answer: Answer, client_ms
) -> list[Vote] | None:
    """The three writes of a new answer in one statement (PostgreSQL): the stored vote, or
    None when the assignment was not claimed (nothing was written)."""
    now = params["p_now"]
    row = _vote_row(study, annotator, None, answer, None, client_ms, now)
    found = run(
        session,
        _ANSWER_IN_ONE,
        {
            **params,
            "p_last": annotator.last_answer_at,
            "p_study": study.id,
            **{f"p_{name}": row[name] for name in _VOTE_COLUMNS},
        },
    ).first()
    if found is None:
        return None
    row.update(assignment_id=found.id, server_ms=found.server_ms)
    vote = Vote(id=found.vote_id, **row)
    _noted(session, study, vote, found, 1 if found.check_kind is None else 0)
    counts = None if found.n_answered is None else found[-3:]
    _stored(session, annotator, found.id, counts, now)
    return [vote]


def _insert(session, study, annotator, claimed, answers, client_ms, now) -> list[Vote]:
    assignment_id, issued_at = claimed[0], claimed[1]
    server_ms = _server_ms(issued_at, annotator.last_answer_at, now)
    rows = [
        _vote_row(study, annotator, assignment_id, answer, server_ms, client_ms, now)
        for answer in answers
    ]
    if len(rows) == 1:
        ids = {rows[0]["aspect"]: run(session, _INSERT_VOTE, rows[0]).scalar_one()}
    else:
        # All aspects in one multi-row INSERT (one statement, as a single answer).
        returned = session.execute(
            insert(_VOTES).values(rows).returning(_VOTES.c.id, _VOTES.c.aspect)
        )
        ids = {aspect: vote_id for vote_id, aspect in returned}
    # What was stored (not attached to the session).
    votes = [Vote(id=ids[row["aspect"]], **row) for row in rows]
    real = 1 if claimed[2] is None else 0
    _noted(session, study, votes[0], claimed, real)
    counts = run(
        session,
        _COUNT_ANSWER,
        {
            "p_annotator": annotator.id,
            "p_real": real,
            "p_ms": min(server_ms, ANSWER_MS_CAP),
            "p_now": now,
        },
    ).one()
    _stored(session, annotator, assignment_id, counts, now)
    return votes


def _noted(session, study, vote, claimed, real) -> None:
    """A real pairwise vote counts at once in the active pair policy's state."""
    if real and study.pair_policy == PairPolicy.active:
        pair_policy.note_vote(session, study, vote.id, claimed[3], claimed[4], vote.choice)


def _stored(session, annotator, assignment_id, counts, now) -> None:
    """What the session holds, brought up to the writes just made (no statement): the
    assignment answered, the annotator's counters."""
    loaded = session.identity_map.get(Session.identity_key(Assignment, assignment_id))
    if loaded is not None:
        set_committed_value(loaded, "answered_at", now)
    if counts is None:  # the annotator's row is gone (deleted meanwhile): read it again on use
        session.expire(annotator)
        return
    set_committed_value(annotator, "n_answered", counts[0])
    set_committed_value(annotator, "n_answered_real", counts[1])
    set_committed_value(annotator, "answer_ms_total", counts[2])
    set_committed_value(annotator, "last_answer_at", now)


def _not_claimed(session, study, annotator, public_id, answers) -> list[Vote]:
    """Why the conditional UPDATE matched nothing: the stored vote (a re-send) or the error."""
    assignment = session.scalar(select(Assignment).where(Assignment.public_id == public_id))
    if assignment is None:
        raise NotFound("no such task; reload the page to get your current task")
    if assignment.annotator_id != annotator.id:
        raise Forbidden("this task was assigned to another annotator")
    session.expire(assignment)
    existing = _existing(session, assignment)
    if existing:
        return _settle(existing, answers)
    if study.status != StudyStatus.open:
        raise Conflict(f"this study is {study.status}: it accepts no answers")
    raise Gone("this task expired before it was answered; reload the page for a new one")


def recount_answers(session: Session, study_id: int) -> None:
    """Set the study's annotators' answer counters from their votes (after a bulk import);
    a task answered on several aspects counts once (its first aspect's vote)."""
    primary = primary_votes(session.get(Study, study_id))
    answered = (
        select(func.count())
        .select_from(Vote)
        .where(Vote.annotator_id == Annotator.id, primary)
        .scalar_subquery()
    )
    real = (
        select(func.count())
        .select_from(Vote)
        .join(Assignment, Assignment.id == Vote.assignment_id)
        .where(Vote.annotator_id == Annotator.id, Assignment.check_kind.is_(None), primary)
        .scalar_subquery()
    )
    skipped = (
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.annotator_id == Annotator.id, Assignment.skipped_at.is_not(None))
        .scalar_subquery()
    )
    capped = case((Vote.server_ms > ANSWER_MS_CAP, ANSWER_MS_CAP), else_=Vote.server_ms)
    answer_ms = (
        select(func.coalesce(func.sum(capped), 0))
        .where(Vote.annotator_id == Annotator.id, primary)
        .scalar_subquery()
    )
    last = (
        select(func.max(Vote.created_at)).where(Vote.annotator_id == Annotator.id)
    ).scalar_subquery()
    session.execute(
        update(Annotator)
        .where(Annotator.study_id == study_id)
        .values(
            n_answered=answered,
            n_answered_real=real,
            n_skipped=skipped,
            answer_ms_total=answer_ms,
            last_answer_at=last,
        )
        .execution_options(synchronize_session="fetch")
    )
