"""Alembic: up, down, up on SQLite and PostgreSQL; the migrated schema matches the models."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from app.migrate import alembic_config, downgrade, upgrade
from app.settings import Settings


def _schema(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    inspector = inspect(engine)
    tables = {
        name: sorted(col["name"] for col in inspector.get_columns(name))
        for name in inspector.get_table_names()
        if name != "alembic_version"
    }
    engine.dispose()
    return tables


def test_up_down_up_and_no_drift(database_url):
    settings = Settings(database_url=database_url)
    migrated = _schema(database_url)
    assert {"generators", "prompts", "prompt_sets", "images", "batches", "api_keys", "jobs"} <= set(
        migrated
    )
    # No difference between the models and the migrated database (types, defaults, indexes).
    command.check(alembic_config(settings))
    downgrade(settings, "base")
    assert _schema(database_url) == {}
    upgrade(settings)
    assert _schema(database_url) == migrated


def test_sqlite_and_postgresql_get_the_same_schema(tmp_path, _postgres_schema):
    sqlite_url = f"sqlite:///{tmp_path / 'same.db'}"
    upgrade(Settings(database_url=sqlite_url))
    assert _schema(sqlite_url) == _schema(_postgres_schema)
