"""Exclusion overrides through the API, the CLI and the leaderboard page; one status everywhere:
/annotators, the leaderboard JSON, the page and the votes export."""

from __future__ import annotations

import csv
import io
import json
import re

from typer.testing import CliRunner

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from tests.support.leaderboard_seed import seed_leaderboard_study
from tests.web.test_leaderboard import sign_in


def _seed(arena) -> str:
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        return seeded.study.public_id


def _status(arena, study):
    """(annotators API, leaderboard JSON, export) excluded sets and reasons."""
    people = arena.client.get(f"/api/studies/{study}/annotators", headers=arena.headers).json()
    board = arena.client.get(f"/api/studies/{study}/leaderboard", headers=arena.headers).json()
    export = arena.client.get(
        f"/api/studies/{study}/export",
        params={"what": "votes", "format": "csv", "exclusions": "off"},
        headers=arena.headers,
    ).text
    api = {p["handle"]: p["excluded_reasons"] for p in people if p["excluded"]}
    lb = {e["handle"]: e["reasons"] for e in board["agreement"]["excluded"]}
    rows = {
        r["annotator"]: r["annotator_exclusion_reasons"]
        for r in csv.DictReader(io.StringIO(export))
        if r["annotator_excluded"] == "true"
    }
    assert {h: "; ".join(r) for h, r in api.items()} == rows
    assert api == lb
    return api, people


def test_override_through_the_api_changes_every_view(arena):
    study = _seed(arena)
    excluded, people = _status(arena, study)
    (lazy,) = excluded  # the seeded rater who always clicks left, at once
    assert "median response time" in " ".join(excluded[lazy])
    careful = next(p["handle"] for p in people if not p["excluded"])

    url = f"/api/studies/{study}/annotators/{{}}/exclusion"
    done = arena.client.post(
        url.format(lazy), json={"action": "reinstate", "note": "known fast"}, headers=arena.headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["excluded"] is False and done.json()["automatic_reasons"]
    done = arena.client.post(
        url.format(careful), json={"action": "exclude", "note": "spam"}, headers=arena.headers
    )
    assert done.json()["excluded"] is True
    excluded, _ = _status(arena, study)
    assert set(excluded) == {careful}
    assert excluded[careful][0] == "excluded by an administrator: spam"
    board = arena.client.get(f"/api/studies/{study}/leaderboard", headers=arena.headers).json()
    assert [e["handle"] for e in board["agreement"]["reinstated"]] == [lazy]

    for action in ("clear",):
        for handle in (lazy, careful):
            arena.client.post(url.format(handle), json={"action": action}, headers=arena.headers)
    assert set(_status(arena, study)[0]) == {lazy}

    bad = arena.client.post(url.format(lazy), json={"action": "ban"}, headers=arena.headers)
    assert bad.status_code == 422
    missing = arena.client.post(
        url.format("nobody"), json={"action": "exclude"}, headers=arena.headers
    )
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    anonymous = arena.client.post(url.format(lazy), json={"action": "exclude"})
    assert anonymous.status_code == 401


def test_override_through_the_cli_and_the_leaderboard_page(arena, monkeypatch):
    study = _seed(arena)
    excluded, people = _status(arena, study)
    (lazy,) = excluded
    careful = next(p["handle"] for p in people if not p["excluded"])
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    from app.cli.main import app as cli

    runner = CliRunner()
    result = runner.invoke(cli, ["annotators", "exclude", careful, "--study", study, "--note", "x"])
    assert result.exit_code == 0, result.output
    assert "excluded" in result.output
    listed = [
        json.loads(line)
        for line in runner.invoke(cli, ["annotators", "list", "--study", study]).stdout.splitlines()
    ]
    assert {r["handle"] for r in listed if r["excluded"]} == {lazy, careful}
    assert set(_status(arena, study)[0]) == {lazy, careful}
    bad = runner.invoke(cli, ["annotators", "reinstate", "nobody", "--study", study])
    assert bad.exit_code != 0 and "nobody" in bad.output

    # The leaderboard page: a signed-in researcher reinstates the rule's choice with a form.
    sign_in(arena.client, arena.headers["Authorization"].split()[1])
    page = arena.client.get(f"/studies/{study}/leaderboard").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = f"/studies/{study}/leaderboard/annotators/{lazy}/exclusion"
    forged = arena.client.post(form, data={"action": "reinstate", "csrf_token": "forged"})
    assert forged.status_code == 403
    done = arena.client.post(
        form, data={"action": "reinstate", "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert set(_status(arena, study)[0]) == {careful}
    page = arena.client.get(f"/studies/{study}/leaderboard").text
    assert f'data-annotator="{lazy}"' in page and "reinstated" in page
