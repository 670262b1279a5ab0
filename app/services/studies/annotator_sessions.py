"""Annotator sessions: a random token in the browser's cookie, its SHA-256 in the database.

The cookie carries no database id and nothing readable: it is 256 random bits. Everything an
annotator may do is looked up from the session row behind it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from app.models import Annotator, AnnotatorSession, Study, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, annotator: Annotator) -> tuple[AnnotatorSession, str]:
    """A new session for this annotator and the token that goes into their cookie."""
    token = secrets.token_urlsafe(32)
    row = AnnotatorSession(token_hash=_hash(token), annotator_id=annotator.id)
    session.add(row)
    session.flush()
    return row, token


def find_session(
    session: Session, token: str | None, *, max_age: timedelta | None = None
) -> AnnotatorSession | None:
    """The session behind a cookie's token, or None when it is absent, unknown or older than
    `max_age` (ARENA_ANNOTATOR_SESSION_HOURS): a session ends on the server whatever the
    browser keeps."""
    if not token or len(token) > 200:
        return None
    # The annotator comes in the same statement: every request that finds a session needs it.
    row = session.scalar(
        select(AnnotatorSession)
        .where(AnnotatorSession.token_hash == _hash(token))
        .options(joinedload(AnnotatorSession.annotator))
    )
    return row if _current(row, max_age) else None


# Every annotator request runs it: built once (app/services/studies/hot_path.py).
_SESSION_IN_STUDY = (
    select(AnnotatorSession, Study)
    .join(AnnotatorSession.annotator)
    .join(Study, Study.id == Annotator.study_id)
    .where(
        AnnotatorSession.token_hash == bindparam("p_hash"),
        Study.public_id == bindparam("p_study"),
    )
    .options(contains_eager(AnnotatorSession.annotator))
)


def find_session_in_study(
    session: Session, token: str | None, study_public_id: str, *, max_age: timedelta | None = None
) -> tuple[AnnotatorSession, Study] | None:
    """The session behind a cookie's token with its annotator, and the study they were invited
    to, in one statement, when that study is `study_public_id` (an annotator page's study); None
    otherwise, the reason left to find_session and the study's own look-up."""
    if not token or len(token) > 200:
        return None
    found = session.execute(
        _SESSION_IN_STUDY, {"p_hash": _hash(token), "p_study": study_public_id}
    ).first()
    if found is None or not _current(found[0], max_age):
        return None
    return found[0], found[1]


def _current(row: AnnotatorSession | None, max_age: timedelta | None) -> bool:
    return row is not None and (max_age is None or row.created_at >= utcnow() - max_age)
