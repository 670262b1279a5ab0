"""Admin studies API and CLI: CRUD, open/close, invites, and the Chatbot Arena votes export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.models import Annotator, Assignment, Generator, Vote
from app.services.studies.invites import hash_token
from tests.web.conftest import GENERATORS, PROMPTS, invite_urls, make_study, upload_pool
from tests.web.conftest import Annotator as Browser


@pytest.fixture
def pool(arena):
    upload_pool(arena)
    return arena


def test_studies_need_an_admin_key(arena):
    assert arena.client.get("/api/studies").status_code == 401
    assert arena.client.post("/api/studies", json={}).status_code == 401


def test_create_validate_update_delete(pool):
    arena = pool
    client, headers = arena.client, arena.headers
    body = {
        "name": "s1",
        "kind": "pairwise",
        "generators": list(GENERATORS),
        "prompt_set": PROMPTS["name"],
    }
    created = client.post("/api/studies", json=body, headers=headers)
    assert created.status_code == 201, created.text
    study = created.json()
    assert study["status"] == "draft" and study["raters_per_item"] == 3
    assert study["attention_check_rate"] == 0.1 and study["n_items"] == 4 * 3
    assert study["flag_options"] == [
        "anatomy",
        "text rendering",
        "object count",
        "artifacts",
        "ignores prompt",
        "unsafe",
    ]
    assert study["question"] == "Which image better matches the prompt?"
    assert client.post("/api/studies", json=body, headers=headers).status_code == 409
    one = client.post(
        "/api/studies",
        json={**body, "name": "s2", "generators": [GENERATORS[0]]},
        headers=headers,
    )
    assert one.status_code == 422 and "at least two" in one.json()["detail"]
    unknown = client.post(
        "/api/studies",
        json={**body, "name": "s3", "generators": ["nope", GENERATORS[0]]},
        headers=headers,
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    bad_rate = client.post(
        "/api/studies",
        json={**body, "name": "s4", "attention_check_rate": 2},
        headers=headers,
    )
    assert bad_rate.status_code == 422
    patched = client.patch(
        f"/api/studies/{study['id']}", json={"raters_per_item": 5}, headers=headers
    )
    assert patched.status_code == 200 and patched.json()["raters_per_item"] == 5
    assert client.get("/api/studies/s1", headers=headers).json()["id"] == study["id"]
    assert [s["name"] for s in client.get("/api/studies", headers=headers).json()] == ["s1"]
    opened = client.post(f"/api/studies/{study['id']}/open", headers=headers).json()
    assert opened["status"] == "open"
    refused = client.patch(
        f"/api/studies/{study['id']}", json={"question": "other?"}, headers=headers
    )
    assert refused.status_code == 409 and "question" in refused.json()["detail"]
    assert client.delete(f"/api/studies/{study['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/studies/{study['id']}", headers=headers).status_code == 404


def test_a_study_without_items_cannot_open(arena):
    client, headers = arena.client, arena.headers
    for name in ("a", "b"):
        client.post("/api/generators", json={"name": name}, headers=headers)
    study = client.post(
        "/api/studies",
        json={"name": "empty", "kind": "pairwise", "generators": ["a", "b"]},
        headers=headers,
    ).json()
    response = client.post(f"/api/studies/{study['id']}/open", headers=headers)
    assert response.status_code == 409 and "no items" in response.json()["detail"]


def test_invites_store_only_the_token_hash(pool):
    arena = pool
    study = make_study(arena)
    response = arena.client.post(
        f"/api/studies/{study['id']}/invites", json={"count": 3}, headers=arena.headers
    )
    assert response.status_code == 201
    invites = response.json()
    assert len({i["url"] for i in invites}) == 3 and len({i["handle"] for i in invites}) == 3
    with arena.session_factory() as session:
        rows = session.scalars(select(Annotator)).all()
        stored = {r.token_hash for r in rows}
        for invite in invites:
            token = invite["url"].rsplit("/", 1)[1]
            assert len(token) >= 40 and hash_token(token) in stored
            assert all(token not in (r.token_hash, r.handle) for r in rows)
    listed = arena.client.get(
        f"/api/studies/{study['id']}/annotators", headers=arena.headers
    ).json()
    assert {a["handle"] for a in listed} == {i["handle"] for i in invites}
    too_many = arena.client.post(
        f"/api/studies/{study['id']}/invites", json={"count": 0}, headers=arena.headers
    )
    assert too_many.status_code == 422


def test_export_in_chatbot_arena_layout(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Browser(TestClient(arena.app), url)
    page = annotator.start()
    for choice in ("left", "right", "tie", "both_bad"):
        page = type(page)(
            annotator.answer(page, choice=choice, client_ms="1234").text,
            page.study_path,
        )
    response = arena.client.get(
        f"/api/studies/{study['id']}/votes?format=csv", headers=arena.headers
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0])[:3] == ["model_a", "model_b", "winner"]
    assert [r["winner"] for r in rows] == ["model_a", "model_b", "tie", "tie (bothbad)"]
    with arena.session_factory() as session:
        names = {g.id: g.name for g in session.scalars(select(Generator))}
        for row in rows:
            assignment = session.scalar(
                select(Assignment).where(Assignment.public_id == row["assignment"])
            )
            vote = session.scalar(select(Vote).where(Vote.assignment_id == assignment.id))
            assert row["model_a"] == names[assignment.generator_left_id]
            assert row["model_b"] == names[assignment.generator_right_id]
            assert row["client_ms"] == "1234" and int(row["server_ms"]) == vote.server_ms >= 0
            assert row["annotator"].startswith("rater-") and row["study"] == study["name"]
            assert row["prompt"].startswith("a red cube")
    jsonl = arena.client.get(
        f"/api/studies/{study['id']}/votes?format=jsonl", headers=arena.headers
    )
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["winner"] for r in records] == [r["winner"] for r in rows]
    assert records[0]["client_ms"] == 1234 and records[0]["check_kind"] is None
    bad = arena.client.get(f"/api/studies/{study['id']}/votes?format=xml", headers=arena.headers)
    assert bad.status_code == 422


def test_cli_creates_studies_and_invites(pool, monkeypatch):
    arena = pool
    settings = arena.settings
    monkeypatch.setenv("ARENA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(settings.media_dir))
    monkeypatch.setenv("ARENA_SECRET_KEY", "x")
    monkeypatch.setenv("ARENA_BASE_URL", "https://arena.example")
    runner = CliRunner()
    args = [
        "studies",
        "create",
        "--name",
        "cli-study",
        "--kind",
        "rating",
        "--prompt-set",
        PROMPTS["name"],
    ]
    for name in GENERATORS:
        args += ["--generator", name]
    created = runner.invoke(cli, [*args, "--open"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["status"] == "open"
    invites = runner.invoke(cli, ["invites", "create", "--study", "cli-study", "--count", "2"])
    assert invites.exit_code == 0, invites.output
    lines = invites.stdout.strip().splitlines()
    assert len(lines) == 2 and all("\thttps://arena.example/invite/" in line for line in lines)
    missing = runner.invoke(cli, ["invites", "create", "--study", "nope", "--count", "1"])
    assert missing.exit_code == 2 and "no study 'nope'" in missing.output
    bad = runner.invoke(
        cli, ["studies", "create", "--name", "x", "--kind", "video", "--generator", "a"]
    )
    assert bad.exit_code == 2 and "kind" in bad.output
    aspects = runner.invoke(
        cli,
        [
            *args[:3],
            "cli-aspects",
            *args[4:],
            "--aspect",
            "prompt=Does it show the prompt?",
            "--aspect",
            "realism=How realistic is it?",
        ],
    )
    assert aspects.exit_code == 0, aspects.output
    shown = arena.client.get("/api/studies/cli-aspects", headers=arena.headers).json()
    assert [a["key"] for a in shown["aspects"]] == ["prompt", "realism"]
    no_question = runner.invoke(cli, [*args[:3], "x", *args[4:], "--aspect", "prompt"])
    assert no_question.exit_code == 2 and "KEY=QUESTION" in no_question.output
    closed = runner.invoke(cli, ["studies", "close", "cli-study"])
    assert closed.exit_code == 0 and "closed" in closed.stdout
    export = runner.invoke(cli, ["votes", "export", "--study", "cli-study"])
    assert export.exit_code == 0 and export.stdout.startswith("model_a,model_b,winner")


def test_a_criterion_created_as_null_is_disabled_and_omitted_ones_take_the_defaults(pool):
    """`null` disables an exclusion criterion at creation too (a column default used to turn
    an explicit None back into the default)."""
    client, headers = pool.client, pool.headers
    body = {"kind": "pairwise", "generators": list(GENERATORS), "prompt_set": PROMPTS["name"]}
    off = client.post(
        "/api/studies",
        json={**body, "name": "off", "min_repeat_consistency": None, "min_median_response_s": None},
        headers=headers,
    )
    assert off.status_code == 201, off.text
    again = client.get(f"/api/studies/{off.json()['id']}", headers=headers).json()
    for study in (off.json(), again):
        assert study["min_repeat_consistency"] is None and study["min_median_response_s"] is None
        assert study["min_attention_accuracy"] == 0.8 and study["min_loo_agreement"] == 0.35
    default = client.post("/api/studies", json={**body, "name": "on"}, headers=headers).json()
    assert default["min_repeat_consistency"] == 0.5 and default["min_median_response_s"] == 1.0
