"""Alembic: up, down, up on SQLite and PostgreSQL; the migrated schema matches the models."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

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


@pytest.mark.postgres
def test_the_slot_queue_is_vacuumed_every_few_thousand_claims(_postgres_schema):
    """Revision 0016: claims delete slots at the front of the claim index; the default (20 % of
    the table dead) would let tens of thousands of dead rows slow every claim."""
    engine = create_engine(_postgres_schema)
    with engine.connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'study_slots'")
        ).scalar_one()
    engine.dispose()
    assert "autovacuum_vacuum_scale_factor=0" in options, options
    assert "autovacuum_vacuum_threshold=2000" in options, options
