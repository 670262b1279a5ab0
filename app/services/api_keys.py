"""Admin API keys: created once, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, Forbidden, NotFound
from app.models import ApiKey, ResearcherSession, utcnow

KEY_PREFIX = "arena_"
# last_used_at is bookkeeping: written at most this often, so a busy key costs no writes.
USE_RECORD_INTERVAL = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, role: str = "admin") -> tuple[ApiKey, str]:
    """Return the stored row and the plaintext key; the plaintext is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=key[: len(KEY_PREFIX) + 6], key_hash=_hash(key), role=role)
    session.add(row)
    session.flush()
    return row, key


def authenticate(session: Session, key: str) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(key)))
    if row is None or row.revoked_at is not None:
        raise Forbidden("API key not recognised or revoked; create one with `arena keys create`")
    record_use(session, row)
    return row


def record_use(session: Session, row: ApiKey) -> None:
    """Set last_used_at at most once a minute, in its own short transaction, never waiting.

    The request's own transaction never writes the key row, so a long request (an upload)
    holds no lock that another request with the same key would queue behind. When the row is
    locked by someone else recording the same use, this one is simply skipped.
    """
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < USE_RECORD_INTERVAL:
        return
    stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - USE_RECORD_INTERVAL)
    target = select(ApiKey.id).where(ApiKey.id == row.id, stale)
    with session.get_bind().connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite has one writer lock and no SKIP LOCKED: fail at once instead of waiting.
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
        else:
            target = target.with_for_update(skip_locked=True)
        try:
            conn.execute(
                update(ApiKey)
                .where(ApiKey.id.in_(target.scalar_subquery()))
                .values(last_used_at=now)
            )
            conn.commit()
        except OperationalError:
            conn.rollback()  # "database is locked": another writer is busy; skip this time
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy)}")
    # This request's session sees the use without marking the row dirty (so it never writes it).
    set_committed_value(row, "last_used_at", now)


def start_researcher_session(session: Session, key: ApiKey) -> str:
    """A new sign-in with this key; returns the random token for the browser's cookie."""
    token = secrets.token_urlsafe(32)
    session.add(ResearcherSession(token_hash=_hash(token), api_key_id=key.id))
    session.flush()
    return token


def key_for_researcher_session(session: Session, token: str) -> ApiKey | None:
    """The key behind a signed-in browser's token, if the key is still valid."""
    key = session.scalar(
        select(ApiKey)
        .join(ResearcherSession, ResearcherSession.api_key_id == ApiKey.id)
        .where(ResearcherSession.token_hash == _hash(token))
    )
    return key if key is not None and key.revoked_at is None else None


def end_researcher_session(session: Session, token: str) -> None:
    row = session.scalar(
        select(ResearcherSession).where(ResearcherSession.token_hash == _hash(token))
    )
    if row is not None:
        session.delete(row)
        session.flush()


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session: Session, key_id: int, *, used_by: ApiKey | None = None) -> ApiKey:
    """Revoke at once: every request looks its key up, so the next one with it is refused.

    The last active key is kept, and so is the key making the request (`used_by`): either would
    leave the caller with no way in but the CLI.
    """
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}; list them with GET /api/keys or `arena keys list`")
    if used_by is not None and used_by.id == row.id and row.revoked_at is None:
        raise Conflict(
            f"key {key_id} is the key this request uses; revoke it with another key "
            "(or `arena keys revoke`)"
        )
    if row.revoked_at is not None:
        return row
    active = session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
    )
    if active <= 1:
        raise Conflict(
            f"key {key_id} ({row.name!r}) is the last active key; create another before revoking it"
        )
    row.revoked_at = utcnow()
    session.flush()
    return row
