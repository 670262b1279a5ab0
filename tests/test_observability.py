"""/metrics (parsed with prometheus_client's own parser), /readyz, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.migrate import downgrade
from app.models import Job, utcnow
from app.settings import Settings
from tests.web.conftest import Annotator, invite_urls, make_study, upload_pool


def _families(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def _value(family, **labels) -> float:
    return sum(
        s.value
        for s in family.samples
        if all(s.labels.get(k) == v for k, v in labels.items()) and not s.name.endswith("_created")
    )


def test_metrics_exposes_the_expected_families(arena):
    client = arena.client
    upload_pool(arena)  # enqueues feature extraction and metric jobs
    study = make_study(arena)
    before = _families(client)
    votes_before = _value(before["arena_votes"], kind="pairwise")
    page = Annotator(client, invite_urls(arena, study)[0]).start()
    annotator = Annotator(client, "")
    response = annotator.answer(page, choice="left")
    assert response.status_code == 200
    with arena.session_factory() as session:
        job = session.query(Job).filter_by(status="queued").first()
        job.status, job.worker = "running", "host-1:42"
        job.lease_until = utcnow() + timedelta(seconds=arena.settings.job_lease_seconds - 3)
        session.commit()
    board = client.get(f"/api/studies/{study['id']}/leaderboard", headers=arena.headers)
    assert board.status_code == 200

    families = _families(client)
    expected = {
        "arena_tasks_served",
        "arena_votes",
        "arena_http_request_duration_seconds",
        "arena_jobs",
        "arena_worker_last_heartbeat_timestamp_seconds",
        "arena_workers_active",
        "arena_leaderboard_recomputations",
    }
    assert expected <= families.keys(), sorted(families)
    assert _value(families["arena_votes"], kind="pairwise") == votes_before + 1
    assert _value(families["arena_tasks_served"], kind="pairwise") >= 2
    assert _value(families["arena_jobs"], kind="extract_features", status="queued") >= 1
    assert _value(families["arena_jobs"], status="running") == 1
    assert _value(families["arena_workers_active"]) == 1
    (beat,) = families["arena_worker_last_heartbeat_timestamp_seconds"].samples
    assert beat.labels == {"worker": "host-1:42"}
    assert abs(beat.value - (utcnow() - timedelta(seconds=3)).timestamp()) < 60
    assert _value(families["arena_leaderboard_recomputations"]) >= 1
    latency = families["arena_http_request_duration_seconds"]
    routes = {s.labels.get("route") for s in latency.samples}
    # Route templates, not raw paths: one label value however many generators there are.
    assert "/api/generators/{ref}/batches" in routes and "/study/{study_id}/vote" in routes
    assert not any(r and "SecretDiffusion" in r for r in routes)
    count = [
        s
        for s in latency.samples
        if s.name.endswith("_count") and s.labels["route"] == "/study/{study_id}/vote"
    ]
    assert sum(s.value for s in count) >= 1


def test_readyz_checks_the_database_and_the_schema(arena):
    assert arena.client.get("/healthz").json() == {"status": "ok"}
    ready = arena.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["migrations"] == "at head"
    if arena.settings.is_sqlite:
        downgrade(arena.settings, "0005")
        behind = arena.client.get("/readyz")
        assert behind.status_code == 503 and "arena migrate" in behind.json()["migrations"]


def test_readyz_without_a_database(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'missing' / 'nowhere' / 'arena.db'}",
        media_dir=tmp_path / "media",
        secret_key="x",
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["database"].startswith("unreachable")


def test_json_logs_carry_the_request_id(settings):
    app = create_app(settings.model_copy(update={"log_format": "json"}))
    # The handler create_app installed writes to stderr; read what it writes, whatever the
    # test runner does with stderr.
    (handler,) = [h for h in logging.getLogger("app").handlers if h.get_name() == "arena"]
    written = io.StringIO()
    handler.setStream(written)
    with TestClient(app) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made = client.get("/healthz", headers={"X-Request-ID": "not ok!"})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32  # an ill-formed id is replaced
    lines = [json.loads(line) for line in written.getvalue().splitlines() if line]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert [line["request_id"] for line in access] == ["abc-123", made.headers["x-request-id"]]
    assert access[0]["route"] == "/healthz" and access[0]["status"] == 200
    assert {"time", "level", "message", "duration_ms"} <= access[0].keys()
    app.state.engine.dispose()
