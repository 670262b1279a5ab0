"""Aspects end to end through the API and the CLI: the study is created with its aspects
(validated), the JSON board switches aspects, the votes export carries an `aspect` column from
which `arena ratings --aspect` reproduces each aspect's board, and the leaderboard export and
the report (`arena report --aspect`) carry the aspects."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.leaderboard.cache import LeaderboardCache
from tests.support.humaneval import seed_pool, simulate_aspects

runner = CliRunner()


def _seed(arena, kind="pairwise") -> tuple[str, str]:
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        study = simulate_aspects(session, kind, prompts=8, raters=3)
        session.commit()
        return study.public_id, study.name


def _get(arena, path, **params):
    response = arena.client.get(path, params=params, headers=arena.headers)
    assert response.status_code == 200, response.text
    return response


def _run(*args) -> dict:
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("aspects", "kind", "message"),
    [
        ([{"key": "a", "question": "A?"}, {"key": "a", "question": "B?"}], "pairwise", "distinct"),
        ([{"key": "Realism", "question": "A?"}], "pairwise", "key"),
        ([{"key": "a", "question": "   "}], "pairwise", "blank"),
        ([{"key": f"a{k}", "question": "A?"} for k in range(6)], "pairwise", "at most 5"),
        ([{"key": "a", "question": "A?"}], "flag", "pairwise and rating"),
    ],
)
def test_bad_aspects_are_refused_with_a_reason(arena, aspects, kind, message):
    with arena.session_factory() as session:
        gens, _prompts = seed_pool(session, generators=2, prompts=1, prefix="bad")
        session.commit()
        names = [g.name for g in gens]
    response = arena.client.post(
        "/api/studies",
        json={"name": "s", "kind": kind, "generators": names, "aspects": aspects},
        headers=arena.headers,
    )
    assert response.status_code == 422, response.text
    assert message in response.text


def test_aspects_are_stored_shown_and_frozen_once_open(arena):
    study, _name = _seed(arena)
    info = _get(arena, f"/api/studies/{study}").json()
    assert [a["key"] for a in info["aspects"]] == ["prompt", "realism"]
    response = arena.client.patch(
        f"/api/studies/{study}", json={"aspects": None}, headers=arena.headers
    )
    assert response.status_code == 409, response.text


def test_each_aspects_export_reproduces_its_board(arena, tmp_path):
    study, _name = _seed(arena)
    votes = _get(arena, f"/api/studies/{study}/export", what="votes", format="csv").text
    path = tmp_path / "votes.csv"
    path.write_text(votes)
    rows = list(csv.DictReader(io.StringIO(votes)))
    assert {r["aspect"] for r in rows} == {"prompt", "realism"}
    for aspect in ("prompt", "realism"):
        board = _get(arena, f"/api/studies/{study}/leaderboard", aspect=aspect).json()
        assert board["options"]["aspect"] == aspect == board["aspect"]
        assert [a["key"] for a in board["aspects"]] == ["prompt", "realism"]
        doc = _run("ratings", path, "--aspect", aspect)
        assert doc["n_votes"] == board["votes"]["used_for_ratings"]
        by_name = {r["generator"]: r["human"] for r in board["rows"]}
        for name, model in doc["models"].items():
            assert model["bt"] == by_name[name]["bt"]
            assert model["ci_low"] == pytest.approx(by_name[name]["bt_ci_low"], abs=1e-6)
    # Without --aspect the file's aspects are named and one must be chosen.
    result = runner.invoke(cli, ["ratings", str(path)])
    assert result.exit_code != 0 and "--aspect" in result.output
    # The default board is the first aspect's; an unknown aspect is a 422.
    first = _get(arena, f"/api/studies/{study}/leaderboard").json()
    assert first["options"]["aspect"] == "prompt"
    bad = arena.client.get(
        f"/api/studies/{study}/leaderboard", params={"aspect": "colour"}, headers=arena.headers
    )
    assert bad.status_code == 422 and "unknown aspect" in bad.text
    # The annotators' exclusions are judged per aspect too.
    people = _get(arena, f"/api/studies/{study}/annotators", aspect="realism").json()
    assert len(people) == 3 and all(p["figures"]["n_votes"] > 0 for p in people)
    bad = arena.client.get(
        f"/api/studies/{study}/annotators", params={"aspect": "colour"}, headers=arena.headers
    )
    assert bad.status_code == 422


def test_the_leaderboard_export_and_the_report_carry_the_aspects(arena, tmp_path, monkeypatch):
    study, name = _seed(arena)
    export = _get(
        arena,
        f"/api/studies/{study}/export",
        what="leaderboard",
        format="csv",
        aspect="realism",
    )
    assert "realism" in export.headers["content-disposition"]
    records = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["aspect"] for r in records} == {"realism"}
    assert {"aspect[prompt]", "aspect[realism]_ci_low"} <= set(records[0])
    for record in records:
        assert record["aspect[realism]"] == record["bt"]

    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    monkeypatch.setenv("ARENA_SECRET_KEY", "test-secret-key-not-for-production")
    for suffix in ("html", "md"):
        out = tmp_path / f"report.{suffix}"
        result = runner.invoke(
            cli, ["report", name, "--out", str(out), "--aspect", "realism", "--bootstrap", "50"]
        )
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert "Which looks more realistic?" in text and "Which matches the prompt" in text
        assert "aspect <b>realism</b>" in text or "aspect **realism**" in text
        if suffix == "md":
            assert "| generator | prompt | realism |\n|---|---:|---:|\n" in text
