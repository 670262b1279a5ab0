"""Image URLs of a task: a fresh random token for every showing of every image.

A token names one rendition for one assignment in one annotator session. It is refused to any
other session, once the assignment is answered or expired, once the task is shown again, and for
any other study, so a URL says nothing about the image behind it and cannot be shared, replayed
or compared across tasks or annotators. Repeat checks and reloads get new tokens like everything
else.
"""

from __future__ import annotations

import functools
import secrets
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.media import MediaStore
from app.models import AnnotatorSession, Assignment, ImageToken, Rendition, Study, utcnow
from app.services.studies import slots
from app.services.studies.hot_path import attach, bind_key, run
from app.services.studies.renditions import CLEAN, DEGRADED, rendition_for


def issue_token(
    session: Session,
    store: MediaStore,
    assignment: Assignment,
    viewer: AnnotatorSession,
    image_id: int,
    variant: str = CLEAN,
) -> str:
    """A new URL token showing this image (in this variant) in this task to this session."""
    study = session.get(Study, assignment.study_id)
    rendition = rendition_for(session, store, study, image_id, variant)
    token = secrets.token_urlsafe(24)
    session.add(
        ImageToken(
            token=token,
            session_id=viewer.id,
            assignment_id=assignment.id,
            rendition_id=rendition.id,
        )
    )
    session.flush()
    return token


_RENDITION_IDS: dict[tuple, int] = {}
_RENDITIONS_LOADED: set[tuple] = set()
_RENDITION_LOCK = threading.Lock()


def rendition_id(
    session: Session, store: MediaStore, study: Study, image_id: int, variant: str
) -> int:
    """The id of the study's rendition of an image: rows are made once and keep their id (a
    lost file is rendered again under the same row), so it is cached per process."""
    study_key = (bind_key(session), study.id, study.created_at)
    key = (*study_key, image_id, variant)
    with _RENDITION_LOCK:
        cached = _RENDITION_IDS.get(key)
        loaded = study_key in _RENDITIONS_LOADED
    if cached is not None:
        return cached
    if not loaded:  # the study's renditions are made when it opens: read them all at once
        rows = session.execute(
            select(Rendition.id, Rendition.image_id, Rendition.variant).where(
                Rendition.study_id == study.id
            )
        ).all()
        with _RENDITION_LOCK:
            _RENDITIONS_LOADED.add(study_key)
            for row_id, row_image, row_variant in rows:
                _RENDITION_IDS[(*study_key, row_image, row_variant)] = row_id
            cached = _RENDITION_IDS.get(key)
        if cached is not None:
            return cached
    found = rendition_for(session, store, study, image_id, variant).id
    with _RENDITION_LOCK:
        _RENDITION_IDS[key] = found
    return found


def issue_tokens(
    session: Session,
    store: MediaStore,
    study: Study,
    assignment: Assignment,
    viewer: AnnotatorSession,
    shown: dict[str, tuple[int, str]],
) -> dict[str, str]:
    """New URL tokens for the images of one showing of a task ({side: (image id, variant)}),
    inserted in one statement; returns {side: token}."""
    tokens = {side: secrets.token_urlsafe(24) for side in shown}
    if shown:
        # One multi-row INSERT built once per row count (an executemany costs a pipeline).
        rows = {
            side: (tokens[side], rendition_id(session, store, study, image_id, variant))
            for side, (image_id, variant) in shown.items()
        }
        _insert_token_rows(session, assignment.id, viewer, rows)
    return tokens


@functools.cache
def _insert_tokens(n_rows: int):
    # SQL text: SQLAlchemy compiles a multi-row insert() again on every call (it has no
    # cache key), which cost more than the statement itself.
    columns = ("token", "session_id", "assignment_id", "rendition_id", "created_at")
    rows = ", ".join(
        "(" + ", ".join(f":{column}_{n}" for column in columns) + ")" for n in range(n_rows)
    )
    table = ImageToken.__table__
    typed = [bindparam(f"{c}_{n}", type_=table.c[c].type) for c in columns for n in range(n_rows)]
    return text(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {rows}").bindparams(*typed)


# The columns of an assignment, as its INSERT … RETURNING gives them back.
_ASSIGNMENT_COLUMNS = tuple(Assignment.__table__.c)


@functools.cache
def _insert_shown(columns: tuple[str, ...], n_tokens: int):
    """A new assignment (unless it conflicts, as slots.insert_assignment) and the URL tokens of
    its first showing, in one PostgreSQL statement: the tokens' INSERT reads the assignment's id
    from the first one's RETURNING, and inserts nothing when it inserted nothing."""
    table = Assignment.__table__
    tokens = ImageToken.__table__
    returned = ", ".join(column.name for column in _ASSIGNMENT_COLUMNS)
    shown = ", ".join(f"(:token_{n}, :rendition_id_{n})" for n in range(n_tokens))
    sql = (
        f"WITH made AS (INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(f':{c}' for c in columns)}) ON CONFLICT DO NOTHING "
        f"RETURNING {returned}), "
        f"shown AS (INSERT INTO {tokens.name} "
        "(token, session_id, assignment_id, rendition_id, created_at) "
        "SELECT v.token, :session_id, made.id, v.rendition_id, :created_at "
        f"FROM made, (VALUES {shown}) AS v (token, rendition_id)) "
        f"SELECT {returned} FROM made"
    )
    typed = [bindparam(c, type_=table.c[c].type) for c in columns]
    typed += [bindparam(f"token_{n}", type_=tokens.c.token.type) for n in range(n_tokens)]
    typed += [
        bindparam(f"rendition_id_{n}", type_=tokens.c.rendition_id.type) for n in range(n_tokens)
    ]
    typed += [
        bindparam("session_id", type_=tokens.c.session_id.type),
        bindparam("created_at", type_=tokens.c.created_at.type),
    ]
    return text(sql).bindparams(*typed).columns(*_ASSIGNMENT_COLUMNS)


def insert_shown(
    session: Session,
    values: dict,
    viewer: AnnotatorSession,
    shown: dict[str, tuple[str, int]],
) -> Assignment | None:
    """Insert a new assignment unless it conflicts, as slots.insert_assignment, with the URL
    tokens of its first showing to `viewer` ({side: (token, rendition id)}): one statement on
    PostgreSQL (one round trip fewer per claim on the vote path), two elsewhere."""
    if session.get_bind().dialect.name != "postgresql" or not shown:
        assignment = slots.insert_assignment(session, values)
        if assignment is not None and shown:
            _insert_token_rows(session, assignment.id, viewer, shown)
        return assignment
    columns = tuple(values)
    params = {**values, "session_id": viewer.id, "created_at": utcnow()}
    for n, (token, rendition) in enumerate(shown.values()):
        params[f"token_{n}"], params[f"rendition_id_{n}"] = token, rendition
    row = run(session, _insert_shown(columns, len(shown)), params).first()
    return attach(session, Assignment, row._asdict()) if row is not None else None


def _insert_token_rows(session, assignment_id, viewer, shown: dict[str, tuple[str, int]]):
    now = utcnow()
    params = {}
    for n, (token, rendition) in enumerate(shown.values()):
        row = {
            "token": token,
            "session_id": viewer.id,
            "assignment_id": assignment_id,
            "rendition_id": rendition,
            "created_at": now,
        }
        params.update({f"{column}_{n}": value for column, value in row.items()})
    run(session, _insert_tokens(len(shown)), params)


def revoke_tokens(session: Session, assignment: Assignment, viewer: AnnotatorSession) -> None:
    """End the URLs of earlier showings of this task to this session (a reload shows new ones):
    a stale URL stops working, and a session holds at most one showing's tokens per task."""
    session.execute(
        delete(ImageToken).where(
            ImageToken.assignment_id == assignment.id, ImageToken.session_id == viewer.id
        )
    )


def side_variant(assignment: Assignment, side: str) -> str:
    """The degraded copy on an attention check's degraded side, the clean image elsewhere."""
    return DEGRADED if assignment.degraded_side == side else CLEAN


def image_path_for_token(
    session: Session,
    store: MediaStore,
    study: Study,
    viewer: AnnotatorSession,
    token: str,
    now: datetime | None = None,
) -> Path:
    """The rendered file behind a token, for the session it was issued to while its task is
    open (one statement). Every refusal is the same 404, so a probe learns nothing about other
    sessions' tokens."""
    now = now or utcnow()
    row = session.execute(
        select(Rendition.sha256, Assignment.answered_at, Assignment.expires_at)
        .select_from(ImageToken)
        .join(Rendition, Rendition.id == ImageToken.rendition_id)
        .join(Assignment, Assignment.id == ImageToken.assignment_id)
        .where(
            ImageToken.token == token,
            ImageToken.session_id == viewer.id,
            Assignment.annotator_id == viewer.annotator_id,
            Assignment.study_id == study.id,
        )
    ).first()
    if row is None or row.answered_at is not None or row.expires_at <= now:
        raise NotFound("no such image in your current task")
    path = store.rendition_path(row.sha256)
    if not path.is_file():
        raise NotFound("no such image in your current task")
    return path


def image_for_token(
    session: Session,
    store: MediaStore,
    study: Study,
    viewer: AnnotatorSession,
    token: str,
    now: datetime | None = None,
) -> bytes:
    """The bytes behind a token (see image_path_for_token)."""
    return image_path_for_token(session, store, study, viewer, token, now).read_bytes()
