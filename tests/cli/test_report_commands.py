"""`arena report` / `arena export`: the database is found as `arena serve` finds it, a missing
one is named (and never created), and a Markdown report writes its figures beside it."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.media import MediaStore
from tests.support.leaderboard_seed import seed_leaderboard_study


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory with no database, no .env and no ARENA_DATABASE_URL."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ARENA_DATABASE_URL", raising=False)
    monkeypatch.delenv("ARENA_MEDIA_DIR", raising=False)
    return folder


@pytest.mark.parametrize(
    "command",
    [["report", "any", "--out", "r.html"], ["export", "any", "--what", "votes", "--out", "v.csv"]],
)
def test_no_database_is_named_with_what_to_do_and_none_is_created(elsewhere, command):
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert (
        "no database at sqlite:///./arena.db (the default: ARENA_DATABASE_URL is not set)" in text
    )
    assert "ARENA_DATABASE_URL=sqlite:///arena-demo/arena.db" in text
    assert "Traceback" not in result.output
    assert list(elsewhere.iterdir()) == []  # no empty arena.db left behind


def test_a_database_without_tables_says_run_migrate(elsewhere, monkeypatch):
    (elsewhere / "empty.db").write_bytes(b"")
    monkeypatch.setenv("ARENA_DATABASE_URL", "sqlite:///empty.db")
    result = CliRunner().invoke(cli, ["report", "any", "--out", "r.html"])
    assert result.exit_code == 2
    assert "has no Gallery Arena tables: run `arena migrate`" in " ".join(result.output.split())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_markdown_report_writes_figures_beside_it_unless_embedded(arena, tmp_path, monkeypatch):
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        name = seeded.study.name
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    monkeypatch.setenv("ARENA_SECRET_KEY", "test-secret-key-not-for-production")
    runner = CliRunner()

    out = tmp_path / "report.md"
    result = runner.invoke(cli, ["report", name, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "data:image" not in text
    linked = re.findall(r"!\[[^\]]*\]\((report_figures/[^)]+\.svg)\)", text)
    assert len(linked) >= 3
    for path in linked:
        assert (tmp_path / path).read_text().lstrip().startswith(("<?xml", "<svg"))

    embedded = tmp_path / "embedded.md"
    result = runner.invoke(cli, ["report", name, "--out", str(embedded), "--embed"])
    assert result.exit_code == 0, result.output
    inline = embedded.read_text()
    assert "data:image/svg+xml;base64," in inline and "_figures/" not in inline
    assert len(inline) > 5 * len(text)
    assert not (tmp_path / "embedded_figures").exists()

    # The HTML report: a warning is a numbered mark in its cell and one note below.
    html_out = tmp_path / "report.html"
    assert runner.invoke(cli, ["report", name, "--out", str(html_out)]).exit_code == 0
    html = html_out.read_text()
    notes = re.findall(r'<li id="note-(\d+)">([^<]+)</li>', html)
    assert notes, "the seeded FID values carry the small-sample warning"
    for number, note in notes:
        assert html.count(f">{note}</li>") == 1
        assert f'href="#note-{number}"' in html


def test_the_demo_prints_commands_that_find_its_database(tmp_path):
    from app.cli.demo_commands import follow_up_commands
    from app.settings import Settings

    folder = tmp_path / "my demo"
    settings = Settings(
        database_url=f"sqlite:///{folder / 'arena.db'}",
        media_dir=folder / "media",
        secret_key_file=folder / "secret.key",
        base_url="http://127.0.0.1:8123",
    )
    lines = follow_up_commands(settings, ["art pairs"])
    assert lines[0].endswith("arena serve --port 8123")
    report = next(line for line in lines if " arena report " in line)
    assert f"ARENA_DATABASE_URL='sqlite:///{folder}/arena.db'" in report
    assert f"ARENA_MEDIA_DIR='{folder}/media'" in report
    assert report.endswith("arena report 'art pairs' --out 'art pairs-report.html'")
    assert any(" arena export 'art pairs' --what votes" in line for line in lines)
