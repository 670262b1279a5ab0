"""Admin keys called directly: shown once, stored hashed, revoked keys refused; and key
bookkeeping never makes a request wait: last_used_at is written at most once a minute, in its
own transaction, and skipped when the row (or SQLite's write lock) is held."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from app.errors import Forbidden
from app.models import ApiKey, utcnow
from app.services.api_keys import KEY_PREFIX, authenticate, create_api_key


def test_key_is_stored_only_as_a_hash_and_authenticates(session):
    row, key = create_api_key(session, "ci")
    assert key.startswith(KEY_PREFIX) and key not in (row.key_hash, row.prefix)
    assert key.startswith(row.prefix)
    assert authenticate(session, key).id == row.id
    assert row.last_used_at is not None


@pytest.mark.parametrize("key", ["", "arena_wrong", "Bearer arena_x"])
def test_unknown_keys_are_forbidden(session, key):
    create_api_key(session, "ci")
    with pytest.raises(Forbidden):
        authenticate(session, key)


def test_revoked_key_is_forbidden(session):
    row, key = create_api_key(session, "old")
    row.revoked_at = utcnow()
    session.flush()
    with pytest.raises(Forbidden):
        authenticate(session, key)
    assert session.query(ApiKey).count() == 1


def _key(arena) -> tuple[int, str]:
    with arena.session_factory() as session:
        row, key = create_api_key(session, "bookkeeping")
        session.commit()
        return row.id, key


def _last_used(arena, key_id: int):
    with arena.session_factory() as session:
        return session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))


def _set_last_used(arena, key_id: int, value) -> None:
    with arena.session_factory() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=value))
        session.commit()


def test_last_used_is_written_at_most_once_a_minute(arena):
    key_id, key = _key(arena)
    with arena.session_factory() as session:
        authenticate(session, key)
        assert not session.dirty  # the request's own transaction never writes the key row
    first = _last_used(arena, key_id)
    assert first is not None
    with arena.session_factory() as session:
        authenticate(session, key)
    assert _last_used(arena, key_id) == first

    _set_last_used(arena, key_id, utcnow() - timedelta(minutes=2))
    with arena.session_factory() as session:
        authenticate(session, key)
    assert _last_used(arena, key_id) > first


def test_a_held_lock_is_skipped_not_waited_for(arena):
    key_id, key = _key(arena)
    engine = arena.app.state.engine
    with engine.connect() as holder:
        if engine.dialect.name == "sqlite":
            holder.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's one writer lock
        else:
            holder.execute(
                text("SELECT id FROM api_keys WHERE id = :id FOR UPDATE"), {"id": key_id}
            )
        start = time.monotonic()
        with arena.session_factory() as session:
            row = authenticate(session, key)
        assert time.monotonic() - start < 1.0
        assert row.id == key_id
        holder.rollback()
    assert _last_used(arena, key_id) is None  # skipped this time; the next use records it
