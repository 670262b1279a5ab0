"""`arena migrate`, `arena keys create` and `arena import` against a real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli.main import app
from app.models import ApiKey, Image
from tests.support.imagefactory import jpeg_bytes, png_bytes

runner = CliRunner()


@pytest.fixture
def env(settings, monkeypatch):
    monkeypatch.setenv("ARENA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(settings.media_dir))
    monkeypatch.setenv("ARENA_SECRET_KEY", "x")
    return settings


def _session(settings):
    from app.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings))()


def test_migrate_and_keys(env):
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["keys", "create", "--name", "alice"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("arena_")
    with _session(env) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == "alice"))
        assert row is not None and key not in (row.key_hash, row.prefix)


def test_import_folder_with_prompts(env, tmp_path):
    from app.services.catalog.generators import create_generator
    from app.services.catalog.prompts import PromptRow, create_prompt_set

    with _session(env) as session:
        create_generator(session, name="g1")
        create_prompt_set(session, "ps", [PromptRow("p1", "a cat"), PromptRow("p2", "a dog")])
        session.commit()
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "cat.png").write_bytes(png_bytes(1))
    (folder / "dog.jpg").write_bytes(jpeg_bytes(2))
    (folder / "manifest.json").write_text(json.dumps({"cat.png": "p1", "dog.jpg": "p2"}))
    result = runner.invoke(app, ["import", str(folder), "--generator", "g1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"batch_id": 1, "images": 2, "jobs_enqueued": 3}


def test_import_refuses_a_bad_folder_and_stores_nothing(env, tmp_path):
    from app.services.catalog.generators import create_generator

    with _session(env) as session:
        create_generator(session, name="g1")
        session.commit()
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "ok.png").write_bytes(png_bytes(1))
    (folder / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["import", str(folder), "--generator", "g1"])
    assert result.exit_code == 2
    assert "broken.png" in result.output and "nothing was stored" in result.output
    with _session(env) as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 0
    media = env.media_dir
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def test_import_needs_exactly_one_owner(env, tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path)])
    assert result.exit_code == 2 and "exactly one" in result.output


@pytest.mark.parametrize(("flags", "expected"), [([], True), (["--no-access-log"], False)])
def test_serve_keeps_uvicorns_access_log_unless_told(env, monkeypatch, flags, expected):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k))
    result = runner.invoke(app, ["serve", "--workers", "1", *flags])
    assert result.exit_code == 0, result.output
    assert seen["access_log"] is expected and seen["workers"] == 1
