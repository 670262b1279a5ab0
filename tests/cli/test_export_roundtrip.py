"""Round trip: the votes export, read as it is by `arena ratings`, `arena agreement` and
`arena mos` with their default options, reproduces the leaderboard (with and without
exclusions): Bradley-Terry and Elo exactly, intervals within bootstrap noise, agreement and MOS."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from tests.support.leaderboard_seed import seed_leaderboard_study

runner = CliRunner()


def _seed(arena, kind: str) -> str:
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir), kind=kind)
        session.commit()
        return seeded.study.public_id


def _board_and_export(arena, study: str, exclusions: str, tmp_path):
    board = arena.client.get(
        f"/api/studies/{study}/leaderboard",
        params={"exclusions": exclusions},
        headers=arena.headers,
    )
    assert board.status_code == 200, board.text
    votes = arena.client.get(
        f"/api/studies/{study}/export",
        params={"what": "votes", "format": "csv", "exclusions": exclusions},
        headers=arena.headers,
    )
    assert votes.status_code == 200, votes.text
    path = tmp_path / f"votes-{exclusions}.csv"
    path.write_text(votes.text)
    return board.json(), path


def _run(*args) -> dict:
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _agreement_matches(board: dict, doc: dict) -> None:
    agreement = board["agreement"]
    for key in ("fleiss_kappa", "krippendorff_alpha", "percent_agreement"):
        assert doc[key] == pytest.approx(agreement[key], abs=1e-12), key
    assert doc["n_items_used"] == agreement["n_items"]
    assert doc["n_ratings"] == agreement["n_ratings"]


@pytest.mark.parametrize("exclusions", ["on", "off"])
def test_pairwise_export_reproduces_ratings_and_agreement(arena, tmp_path, exclusions):
    study = _seed(arena, "pairwise")
    board, path = _board_and_export(arena, study, exclusions, tmp_path)
    doc = _run("ratings", path)
    rows = {r["generator"]: r["human"] for r in board["rows"]}
    assert doc["n_votes"] == board["votes"]["used_for_ratings"]
    assert set(doc["models"]) == {g for g, h in rows.items() if h["bt"] is not None}
    for name, model in doc["models"].items():
        human = rows[name]
        assert model["bt"] == human["bt"]
        assert model["elo"] == human["elo"]
        assert model["votes"] == human["votes"]
        assert model["rank"] == human["rank"]
        # The same battles in the same order and seed: the bootstrap draws coincide.
        assert model["ci_low"] == pytest.approx(human["bt_ci_low"], abs=1e-6)
        assert model["ci_high"] == pytest.approx(human["bt_ci_high"], abs=1e-6)
    _agreement_matches(board, _run("agreement", path))


def test_exports_with_and_without_exclusions_differ_as_the_boards_do(arena, tmp_path):
    study = _seed(arena, "pairwise")
    on, on_path = _board_and_export(arena, study, "on", tmp_path)
    off, off_path = _board_and_export(arena, study, "off", tmp_path)
    assert on["agreement"]["excluded"], "the seeded lazy annotator is excluded"
    assert on_path.read_text() != off_path.read_text()
    n_on, n_off = _run("ratings", on_path)["n_votes"], _run("ratings", off_path)["n_votes"]
    assert n_on == on["votes"]["used_for_ratings"] < n_off == off["votes"]["used_for_ratings"]


def test_rating_export_reproduces_mos_and_agreement(arena, tmp_path):
    study = _seed(arena, "rating")
    board, path = _board_and_export(arena, study, "on", tmp_path)
    doc = _run("mos", path)
    rows = {r["generator"]: r["human"] for r in board["rows"]}
    for name, model in doc["models"].items():
        human = rows[name]
        assert model["mean"] == pytest.approx(human["mos"], abs=1e-12)
        assert model["ci_low"] == pytest.approx(human["mos_ci_low"], abs=1e-12)
        assert model["ci_high"] == pytest.approx(human["mos_ci_high"], abs=1e-12)
        assert model["n"] == human["votes"]
        assert 1.0 <= model["ci_low"] <= model["ci_high"] <= 5.0
    _agreement_matches(board, _run("agreement", path, "--level", "ordinal"))


def test_a_rating_export_is_no_battle_log(arena, tmp_path):
    study = _seed(arena, "rating")
    _board, path = _board_and_export(arena, study, "on", tmp_path)
    result = runner.invoke(cli, ["ratings", str(path)])
    assert result.exit_code == 2 and "arena mos" in result.output
