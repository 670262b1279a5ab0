"""A pooled PostgreSQL connection that the server has ended is never handed out, and finding
that out costs no round trip (a ping on every checkout was one more per request)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from app.db import make_engine
from app.settings import Settings

pytestmark = pytest.mark.postgres


def test_a_connection_the_server_ended_is_replaced_at_checkout(_postgres_schema):
    engine = make_engine(Settings(database_url=_postgres_schema, db_pool_size=1))
    try:
        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # Idle in the pool when the server ends it (a restart, an administrator, a timeout);
        # the call returns once that backend has exited.
        administrator = create_engine(_postgres_schema, poolclass=NullPool)
        with administrator.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": backend})
        with engine.connect() as conn:  # the one pooled connection: replaced, no error
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    finally:
        engine.dispose()


def test_checkout_sends_nothing_to_the_server(_postgres_schema, monkeypatch):
    engine = make_engine(Settings(database_url=_postgres_schema))
    pings = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
    finally:
        engine.dispose()
