"""A database session for calling the services directly, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from app.db import make_engine, make_session_factory


@pytest.fixture
def factory(settings):
    engine = make_engine(settings)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(factory):
    with factory() as session:
        yield session
