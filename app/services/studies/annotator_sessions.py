"""Annotator sessions: a random token in the browser's cookie, its SHA-256 in the database.

The cookie carries no database id and nothing readable: it is 256 random bits. Everything an
annotator may do is looked up from the session row behind it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Annotator, AnnotatorSession, utcnow


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
    if row is not None and max_age is not None and row.created_at < utcnow() - max_age:
        return None
    return row
