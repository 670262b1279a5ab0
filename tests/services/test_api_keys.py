"""Admin keys called directly: shown once, stored hashed, revoked keys refused."""

from __future__ import annotations

import pytest

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
