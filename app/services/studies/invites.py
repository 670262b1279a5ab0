"""Annotator invites: one unguessable link per annotator; only the token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.errors import Forbidden, Gone, InvalidInput, NotFound
from app.models import Annotator, Study, utcnow
from app.models.enums import StudyStatus

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
    expires_in_days: float | None = None,
    max_uses: int | None = None,
) -> list[tuple[Annotator, str]]:
    """`count` new annotators and their invite URLs. The plain token exists only in the URL.

    Each link opens until `expires_in_days` have passed and at most `max_uses` times (None: no
    such limit); every opening starts a new browser session for the same annotator.
    """
    if not 1 <= count <= MAX_INVITES_PER_CALL:
        raise InvalidInput(f"count must be between 1 and {MAX_INVITES_PER_CALL}, got {count}")
    if expires_in_days is not None and expires_in_days <= 0:
        raise InvalidInput(f"expires_in_days must be positive, got {expires_in_days}")
    if max_uses is not None and max_uses < 1:
        raise InvalidInput(f"max_uses must be at least 1, got {max_uses}")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    if study.status == StudyStatus.closed:
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
            invite_expires_at=expires_at,
            invite_max_uses=max_uses,
        )
        session.add(annotator)
        created.append((annotator, invite_url(base_url, token)))
    session.flush()
    return created


def create_simulated_annotator(session: Session, study: Study) -> Annotator:
    """An annotator without a usable link (the demo's simulated raters call the services)."""
    ((annotator, _url),) = create_invites(session, study, 1, "http://simulated", simulated=True)
    return annotator


def annotator_for_token(session: Session, token: str, now: datetime | None = None) -> Annotator:
    """The annotator an invite link names, counting one use; Gone (410) once it cannot open."""
    annotator = session.scalar(select(Annotator).where(Annotator.token_hash == hash_token(token)))
    if annotator is None:
        raise Forbidden("this invite link is not valid; ask the study's organiser for a new one")
    now = now or utcnow()
    if annotator.invite_revoked_at is not None:
        raise Gone("this invite link was revoked; ask the study's organiser for a new one")
    if annotator.invite_expires_at is not None and annotator.invite_expires_at <= now:
        raise Gone(
            f"this invite link expired on {annotator.invite_expires_at:%Y-%m-%d %H:%M} UTC; "
            "ask the study's organiser for a new one"
        )
    # One conditional UPDATE: two browsers opening the last use at once cannot both get in.
    counted = session.execute(
        update(Annotator)
        .where(Annotator.id == annotator.id)
        .where(
            or_(
                Annotator.invite_max_uses.is_(None),
                Annotator.invite_uses < Annotator.invite_max_uses,
            )
        )
        .values(invite_uses=Annotator.invite_uses + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted != 1:
        raise Gone(
            f"this invite link has been used {annotator.invite_max_uses} time(s), its limit; "
            "ask the study's organiser for a new one"
        )
    session.refresh(annotator)
    return annotator


def invite_status(annotator: Annotator, now: datetime | None = None) -> str:
    """active, revoked, expired or used up."""
    now = now or utcnow()
    if annotator.invite_revoked_at is not None:
        return "revoked"
    if annotator.invite_expires_at is not None and annotator.invite_expires_at <= now:
        return "expired"
    if annotator.invite_max_uses is not None and annotator.invite_uses >= annotator.invite_max_uses:
        return "used up"
    return "active"


def revoke_invite(session: Session, study: Study, handle: str) -> Annotator:
    """Revoke an annotator's invite: the link stops opening and their sessions end at once.

    Their answered votes stay (exclude the annotator on the leaderboard to drop them).
    """
    annotator = session.scalar(
        select(Annotator).where(Annotator.study_id == study.id, Annotator.handle == handle)
    )
    if annotator is None:
        raise NotFound(
            f"no invite {handle!r} in study {study.name!r}; list them with "
            f"GET /api/studies/{study.id}/invites"
        )
    if annotator.invite_revoked_at is None:
        annotator.invite_revoked_at = utcnow()
        session.flush()
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
    if annotator.invite_revoked_at is not None:
        raise Forbidden("your invite to this study was revoked; no more answers are taken")
    return annotator


def record_consent(annotator: Annotator, now: datetime | None = None) -> None:
    if annotator.consented_at is None:
        annotator.consented_at = now or utcnow()
