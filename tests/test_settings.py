"""Settings: ARENA_ prefix, embedded default, a secret key generated once and persisted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_defaults_are_the_embedded_sqlite(monkeypatch):
    monkeypatch.delenv("ARENA_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///./arena.db"
    assert settings.is_sqlite


def test_environment_selects_postgresql(monkeypatch):
    monkeypatch.setenv("ARENA_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/x")
    monkeypatch.setenv("ARENA_MAX_FILE_BYTES", "123")
    settings = Settings(_env_file=None)
    assert not settings.is_sqlite and settings.max_file_bytes == 123


def test_unknown_backends_are_refused():
    with pytest.raises(ValidationError, match="ARENA_DATABASE_URL"):
        Settings(database_url="mysql://x", _env_file=None)


def test_secret_key_is_generated_once_and_persisted(tmp_path):
    path = tmp_path / "secret"
    first = Settings(secret_key_file=path, _env_file=None).resolved_secret_key
    second = Settings(secret_key_file=path, _env_file=None).resolved_secret_key
    assert first == second and len(first) >= 40
    assert path.read_text() == first and oct(path.stat().st_mode)[-3:] == "600"
    other = Settings(secret_key_file=tmp_path / "other", _env_file=None).resolved_secret_key
    assert other != first


def test_explicit_secret_wins(tmp_path):
    settings = Settings(secret_key="given", secret_key_file=tmp_path / "s", _env_file=None)
    assert settings.resolved_secret_key == "given" and not (tmp_path / "s").exists()


def test_empty_environment_values_mean_unset(monkeypatch):
    # docker-compose.yml writes ARENA_INCEPTION_CLASSIFIER_WEIGHTS: "" for "not configured".
    monkeypatch.setenv("ARENA_INCEPTION_CLASSIFIER_WEIGHTS", "")
    monkeypatch.setenv("ARENA_REDIS_URL", "")
    monkeypatch.setenv("ARENA_MAX_FILE_BYTES", "")
    settings = Settings(_env_file=None)
    assert settings.inception_classifier_weights is None
    assert settings.redis_url is None
    assert settings.max_file_bytes == 50 * 1024 * 1024


def test_none_turns_an_optional_limit_off(monkeypatch):
    monkeypatch.setenv("ARENA_INVITE_TTL_DAYS", "none")
    monkeypatch.setenv("ARENA_INVITE_MAX_USES", "3")
    settings = Settings(_env_file=None)
    assert settings.invite_ttl_days is None and settings.invite_max_uses == 3
