"""Annotator invites: one unguessable link per annotator; only the token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidInput
from app.models import Annotator, Study, utcnow

MAX_INVITES_PER_CALL = 10_000


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_handle() -> str:
    # Opaque display handle: says nothing about the person, the invite order or other annotators.
    return f"rater-{secrets.token_hex(6)}"


def invite_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invite/{token}"


def create_invites(
    session: Session,
    study: Study,
    count: int,
    base_url: str,
    *,
    simulated: bool = False,
) -> list[tuple[Annotator, str]]:
    """`count` new annotators and their invite URLs. The plain token exists only in the URL."""
    if not 1 <= count <= MAX_INVITES_PER_CALL:
        raise InvalidInput(f"count must be between 1 and {MAX_INVITES_PER_CALL}, got {count}")
    if study.status == "closed":
        raise InvalidInput(f"study {study.name!r} is closed; reopen it before inviting annotators")
    created = []
    for _ in range(count):
        # 256 random bits: a SHA-256 is enough at rest, no slow hash needed.
        token = secrets.token_urlsafe(32)
        annotator = Annotator(
            study_id=study.id,
            handle=new_handle(),
            token_hash=hash_token(token),
            is_simulated=simulated,
        )
        session.add(annotator)
        created.append((annotator, invite_url(base_url, token)))
    session.flush()
    return created


def create_simulated_annotator(session: Session, study: Study) -> Annotator:
    """An annotator without a usable link (the demo's simulated raters call the services)."""
    ((annotator, _url),) = create_invites(session, study, 1, "http://simulated", simulated=True)
    return annotator


def annotator_for_token(session: Session, token: str) -> Annotator:
    annotator = session.scalar(select(Annotator).where(Annotator.token_hash == hash_token(token)))
    if annotator is None:
        raise Forbidden("this invite link is not valid; ask the study's organiser for a new one")
    return annotator


def list_annotators(session: Session, study: Study) -> list[Annotator]:
    return list(
        session.scalars(
            select(Annotator).where(Annotator.study_id == study.id).order_by(Annotator.id)
        )
    )


def annotator_in_study(session: Session, annotator_id: int, study: Study) -> Annotator:
    """The session's annotator, refused unless they were invited to this very study."""
    annotator = session.get(Annotator, annotator_id)
    if annotator is None or annotator.study_id != study.id:
        raise Forbidden("you are not signed in to this study: open your invite link again")
    return annotator


def record_consent(annotator: Annotator, now: datetime | None = None) -> None:
    if annotator.consented_at is None:
        annotator.consented_at = now or utcnow()
