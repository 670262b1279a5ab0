"""benchmarks/minimal_vote_app.py: the ceiling does one INSERT, and the floor (`--floor`) does
a vote's round trips on top of it: three more statements and the rate limits' count."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.errors import RateLimited

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "minimal_vote_app.py"


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_DATABASE_URL", f"sqlite:///{tmp_path / 'minimal.sqlite'}")
    monkeypatch.delenv("ARENA_REDIS_URL", raising=False)
    monkeypatch.setenv("ARENA_RATE_LIMIT_STORAGE", "memory")
    monkeypatch.setenv("ARENA_VOTE_RATE_PER_ANNOTATOR", "2")

    def make(**env: str):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location("minimal_vote_app_under_test", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.create_app()

    return make


@pytest.fixture
def statements():
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split()[0].upper())

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


FORM = {"assignment": "a1", "choice": "left", "csrf_token": "client-1", "client_ms": "900"}


def test_the_ceiling_makes_one_insert_and_counts_nothing(make_app, statements):
    with TestClient(make_app()) as client:
        statements.clear()
        for _ in range(3):  # over the per-annotator limit of 2: not counted here
            response = client.post("/vote", data=FORM)
            assert response.status_code == 200 and 'name="assignment"' in response.text
    assert statements == ["INSERT"] * 3


def test_the_floor_makes_a_votes_round_trips(make_app, statements):
    app = make_app(MINIMAL_EXTRA_STATEMENTS="3", MINIMAL_RATE_LIMIT="1")
    with TestClient(app) as client:
        statements.clear()
        assert client.post("/vote", data=FORM).status_code == 200
        assert statements == ["SELECT", "SELECT", "SELECT", "INSERT"]
        assert client.post("/vote", data=FORM).status_code == 200
        # The third answer of this client is over its limit: the limiter really counts.
        with pytest.raises(RateLimited):
            client.post("/vote", data=FORM)
        assert client.post("/vote", data={**FORM, "csrf_token": "client-2"}).status_code == 200
