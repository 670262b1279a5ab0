"""The request's session: the dependency (app/db.get_session) commits after the route, on a
commit thread; a route without it (the vote) commits in its own thread
(`session_in_this_thread`). Either way one commit per request, callbacks once, after the commit;
a failing route's writes rolled back and its connection released."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from app.db import SessionDep, on_commit, session_in_this_thread


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.jobs = 0

    def submit(self, *args, **kwargs):
        self.jobs += 1
        return super().submit(*args, **kwargs)


def _app():
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (body TEXT)"))
    app = FastAPI()
    app.state.session_factory = sessionmaker(engine, expire_on_commit=False)
    app.state.commit_executor = CountingExecutor()
    told: list[str] = []

    def write(session, body: str) -> None:
        session.execute(text("INSERT INTO notes VALUES (:body)"), {"body": body})
        on_commit(session, lambda: told.append(body))

    @app.post("/after")
    def after(body: str, session: SessionDep) -> dict:
        write(session, body)
        return {}

    @app.post("/here")
    def here(body: str, request: Request) -> dict:
        with session_in_this_thread(request) as session:
            write(session, body)
            assert told == [] or told[-1] != body  # not before the commit
        return {}

    @app.post("/here-fails")
    def here_fails(body: str, request: Request) -> dict:
        with session_in_this_thread(request) as session:
            write(session, body)
            raise ValueError("the route failed")

    @app.post("/fails")
    def fails(body: str, session: SessionDep) -> dict:
        write(session, body)
        raise ValueError("the route failed")

    def stored() -> list[str]:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT body FROM notes"))]

    return app, told, stored


def test_one_commit_per_request_in_the_route_or_after_it():
    app, told, stored = _app()
    client = TestClient(app, raise_server_exceptions=False)
    executor = app.state.commit_executor
    assert client.post("/after", params={"body": "a"}).status_code == 200
    assert executor.jobs == 1 and told == ["a"] and stored() == ["a"]
    assert client.post("/here", params={"body": "b"}).status_code == 200
    assert executor.jobs == 1, "committed in the route: no trip to a commit thread"
    assert told == ["a", "b"] and stored() == ["a", "b"]
    assert client.post("/fails", params={"body": "c"}).status_code == 500
    assert executor.jobs == 2 and told == ["a", "b"] and stored() == ["a", "b"]
    assert client.post("/here-fails", params={"body": "d"}).status_code == 500
    assert executor.jobs == 2 and told == ["a", "b"] and stored() == ["a", "b"]
    assert client.post("/here", params={"body": "e"}).status_code == 200
    assert stored() == ["a", "b", "e"]
