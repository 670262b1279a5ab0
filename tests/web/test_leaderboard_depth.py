"""Controlled ratings and per-category boards on the leaderboard page, its JSON and exports."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from app.models import Prompt
from tests.support.leaderboard_seed import seed_leaderboard_study
from tests.web.test_leaderboard import sign_in


@pytest.fixture
def seeded(arena):
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        result = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        prompts = session.scalars(
            select(Prompt).where(Prompt.prompt_set_id == result.study.prompt_set_id)
        ).all()
        for k, prompt in enumerate(sorted(prompts, key=lambda p: p.id)):
            prompt.category = "photo" if k % 2 == 0 else "painting"
        session.commit()
        info = {"id": result.study.id, "public_id": result.study.public_id}
    return arena, info


def test_controlled_and_category_tables_match_the_json(seeded):
    arena, info = seeded
    client = arena.client
    data = client.get(f"/api/studies/{info['id']}/leaderboard", headers=arena.headers).json()
    controlled, categories = data["controlled"], data["categories"]
    assert controlled["available"] and data["options"]["control"] == []
    sign_in(client, arena.headers["Authorization"].split(" ", 1)[1])
    page = client.get(f"/studies/{info['public_id']}/leaderboard").text
    for name, cell in controlled["ratings"].items():
        row = re.search(rf'<tr data-controlled="{re.escape(name)}">(.*?)</tr>', page, re.S)
        assert row, name
        assert f'data-value="{cell["rating"]}"' in row.group(1)
    assert 'data-coefficient="left side"' in page
    for board in categories["boards"]:
        assert f'data-category="{board["category"]}"' in page
        if board["leader"]:
            assert 'data-leader="true"' in page
    # Picking covariates on the page (checkboxes) reaches the fit: 32x32 images everywhere.
    picked = client.get(
        f"/studies/{info['public_id']}/leaderboard",
        params=[("control", "resolution"), ("control", "aspect_ratio")],
    ).text
    assert 'id="controlled-unavailable"' in picked and "same difference" in picked
    assert re.search(r'value="resolution" checked', picked)


def test_control_parameter_and_exports(seeded):
    arena, info = seeded
    url = f"/api/studies/{info['id']}/leaderboard"
    bad = arena.client.get(url, params={"control": "sharpness"}, headers=arena.headers)
    assert bad.status_code == 422 and "sharpness" in bad.json()["detail"]
    picked = arena.client.get(url, params={"control": "brightness"}, headers=arena.headers)
    assert picked.json()["controlled"]["covariates"] == ["brightness"]
    export = arena.client.get(
        f"/api/studies/{info['id']}/export",
        params={"what": "leaderboard", "format": "csv"},
        headers=arena.headers,
    )
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows and all(float(r["bt_controlled"]) > 0 for r in rows)
    assert {"bt_controlled_ci_low", "bt_controlled_ci_high"} <= set(rows[0])


def test_votes_needed_table_anchor_and_new_plots(seeded):
    arena, info = seeded
    client = arena.client
    sign_in(client, arena.headers["Authorization"].split(" ", 1)[1])
    base = f"/studies/{info['public_id']}/leaderboard"
    page = client.get(base, params={"anchor": "cinder"}).text
    assert 'id="votes-needed-table"' in page and page.count("data-pair=") == 4
    assert '<option value="cinder" selected>' in page
    for name in ("trajectory", "average-win-rate", "vote-counts"):
        assert f"/plots/{name}.svg?" in page
        svg = client.get(f"{base}/plots/{name}.svg", params={"anchor": "cinder"})
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg")
    assert (
        "cinder held at 1000"
        in client.get(f"{base}/plots/trajectory.svg", params={"anchor": "cinder"}).text
    )
    bad = client.get(
        f"/api/studies/{info['id']}/leaderboard", params={"anchor": "x"}, headers=arena.headers
    )
    assert bad.status_code == 422


def test_arena_media_covariates_backfills_images_stored_before_0013(seeded, monkeypatch):
    from sqlalchemy import func, update
    from typer.testing import CliRunner

    from app.cli.main import app as cli
    from app.models import Image

    arena, _info = seeded
    with arena.session_factory() as session:
        session.execute(update(Image).values(brightness=None, saturation=None))
        session.commit()
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    result = CliRunner().invoke(cli, ["media", "covariates"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["measured"] > 0 and report["missing_files"] == 0
    with arena.session_factory() as session:
        assert session.scalar(select(func.count()).where(Image.brightness.is_(None))) == 0
