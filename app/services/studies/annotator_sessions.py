"""Annotator sessions: a random token in the browser's cookie, its SHA-256 in the database.

The cookie carries no database id and nothing readable: it is 256 random bits. Everything an
annotator may do is looked up from the session row behind it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Annotator, AnnotatorSession, Study, utcnow
from app.services.studies.hot_path import attach, run


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


_S, _A, _T = AnnotatorSession.__table__, Annotator.__table__, Study.__table__
# The sign-in row's columns, labelled per table: (model, [(label, attribute)]).
_PARTS = tuple(
    (model, [(f"{prefix}{column.key}", column.key) for column in model.__table__.columns])
    for prefix, model in (("s_", AnnotatorSession), ("a_", Annotator), ("t_", Study))
)
# Every annotator request runs it: built once, run on the driver (app/services/studies/
# hot_path.py), its row made into the three instances as the ORM would load them. Through
# the ORM the same statement cost ~150 µs more CPU (psycopg describes all 52 columns on every
# execution for SQLAlchemy's result).
_SESSION_IN_STUDY = (
    select(
        *(model.__table__.c[key].label(label) for model, names in _PARTS for label, key in names)
    )
    .select_from(_S.join(_A, _A.c.id == _S.c.annotator_id).join(_T, _T.c.id == _A.c.study_id))
    .where(_S.c.token_hash == bindparam("p_hash"), _T.c.public_id == bindparam("p_study"))
)


def find_session_in_study(
    session: Session, token: str | None, study_public_id: str, *, max_age: timedelta | None = None
) -> tuple[AnnotatorSession, Study] | None:
    """The session behind a cookie's token with its annotator, and the study they were invited
    to, in one statement, when that study is `study_public_id` (an annotator page's study); None
    otherwise, the reason left to find_session and the study's own look-up."""
    if not token or len(token) > 200:
        return None
    row = run(session, _SESSION_IN_STUDY, {"p_hash": _hash(token), "p_study": study_public_id})
    found = row.first()
    if found is None:
        return None
    values = found._asdict()
    viewer, annotator, study = (
        attach(session, model, {key: values[label] for label, key in names})
        for model, names in _PARTS
    )
    if "annotator" not in viewer.__dict__:
        set_committed_value(viewer, "annotator", annotator)
    if not _current(viewer, max_age):
        return None
    return viewer, study


def _current(row: AnnotatorSession | None, max_age: timedelta | None) -> bool:
    return row is not None and (max_age is None or row.created_at >= utcnow() - max_age)
