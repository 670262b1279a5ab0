"""Shared fixtures: settings, app clients and sessions on SQLite AND PostgreSQL.

PostgreSQL: ARENA_TEST_POSTGRES_URL names a throw-away database (scripts/test.sh creates one);
without it, or under pytest-xdist (one database per worker), a database is created on
127.0.0.1:5432 for this run and dropped afterwards. If no server
answers, PostgreSQL tests are skipped, except under CI=true where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Under pytest-xdist every core already runs a test process: torch and BLAS each starting a
# thread per core on top would only fight over them (set before anything imports them).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.models import Base
from app.settings import Settings

ADMIN_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_server_up() -> bool:
    try:
        engine = create_engine(ADMIN_PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure to connect means "not up"
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of an empty throw-away PostgreSQL database for this test run (for each
    pytest-xdist worker its own, since tests truncate every table)."""
    url = os.environ.get("ARENA_TEST_POSTGRES_URL")
    if url and not os.environ.get("PYTEST_XDIST_WORKER"):
        yield url
        return
    if not _postgres_server_up():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (see README: start it)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"arena_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                    "AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_schema(postgres_url: str) -> str:
    """Migrate the PostgreSQL test database once; tests then truncate between runs."""
    from app.migrate import upgrade

    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(Settings(database_url=postgres_url))
    return postgres_url


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head per test session; each test gets a copy of it."""
    from app.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "arena.db"
    upgrade(Settings(database_url=f"sqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> str:
    """A migrated, empty database: a copy of the migrated SQLite file, or the truncated PostgreSQL one."""
    if request.param == "sqlite":
        path = tmp_path / "arena.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("_postgres_schema")
    _truncate_all(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        media_dir=tmp_path / "media",
        secret_key="test-secret-key-not-for-production",
        secret_key_file=tmp_path / "secret",
    )


@dataclass
class Arena:
    """A running app under test: client, admin headers, session factory, settings."""

    client: object
    headers: dict[str, str]
    session_factory: object
    settings: Settings
    app: object


@contextmanager
def running_arena(settings: Settings) -> Iterator[Arena]:
    """The app on `settings`, with an admin key, its lifespan running."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services.api_keys import create_api_key

    app = create_app(settings)
    with app.state.session_factory() as session:
        _row, key = create_api_key(session, "tests")
        session.commit()
    with TestClient(app) as client:
        yield Arena(
            client, {"Authorization": f"Bearer {key}"}, app.state.session_factory, settings, app
        )
    app.state.engine.dispose()


@pytest.fixture
def arena(settings: Settings) -> Iterator[Arena]:
    with running_arena(settings) as running:
        yield running
