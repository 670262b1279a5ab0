"""Admin API keys: created once, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden
from app.models import ApiKey, utcnow

KEY_PREFIX = "arena_"


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
    row.last_used_at = utcnow()
    return row
