"""Flag rates of exactly 0% and 100%: intervals stay inside [0, 1] and contain the rate; the
leaderboard's flags plot and the report (HTML and Markdown) render."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from app.models import Assignment, Generator, Vote
from tests.support.leaderboard_seed import seed_leaderboard_study


def test_zero_and_full_flag_rates_plot_and_report(arena, tmp_path, monkeypatch):
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir), kind="flag")
        names = {g.id: g.name for g in seeded.generators}
        always, never = seeded.generators[0].id, seeded.generators[1].id
        for vote, assignment in session.execute(
            select(Vote, Assignment)
            .join(Assignment, Assignment.id == Vote.assignment_id)
            .where(Vote.study_id == seeded.study.id, Assignment.check_kind.is_(None))
        ):
            if assignment.generator_id == always:
                vote.flags = ["artifacts"]
            elif assignment.generator_id == never:
                vote.flags = []
        session.commit()
        public_id, name = seeded.study.public_id, seeded.study.name
        assert session.scalar(select(Generator.name).where(Generator.id == always))
    board = arena.client.get(
        f"/api/studies/{public_id}/leaderboard", params={"exclusions": "off"}, headers=arena.headers
    ).json()
    rates = {r["generator"]: r["human"]["flag_rates"]["any"] for r in board["rows"]}
    full, none = rates[names[always]], rates[names[never]]
    assert full["rate"] == 1.0 and full["ci_high"] == 1.0 and 0 < full["ci_low"] < 1
    assert none["rate"] == 0.0 and none["ci_low"] == 0.0 and 0 < none["ci_high"] < 1
    for exclusions in ("on", "off"):
        plot = arena.client.get(
            f"/studies/{public_id}/leaderboard/plots/flags.svg",
            params={"exclusions": exclusions},
            headers=arena.headers,
        )
        assert plot.status_code == 200 and plot.text.lstrip().startswith("<?xml")
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    from app.cli.main import app as cli

    for suffix in ("html", "md"):
        out = tmp_path / f"report.{suffix}"
        result = CliRunner().invoke(
            cli, ["report", name, "--out", str(out), "--exclusions", "off", "--bootstrap", "50"]
        )
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert names[always] in text and "100" in text
    assert json.dumps(board, allow_nan=False)
