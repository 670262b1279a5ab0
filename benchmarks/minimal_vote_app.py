"""The ceiling for benchmarks/vote_load.py: the least a vote endpoint can do on the same stack.

A sync FastAPI route behind the same uvicorn options and process count, a form parsed, one
INSERT through a SQLAlchemy session from app.db (the same engine and pool settings), the
commit, and a small Jinja page carrying the next form — nothing else: no sign-in, no rate
limit, no task logic. Served with `uvicorn minimal_vote_app:create_app --factory`.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI, Form
from fastapi.responses import HTMLResponse
from jinja2 import Template
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from app.db import make_engine, make_session_factory
from app.settings import Settings

metadata = MetaData()
votes = Table(
    "bench_minimal_votes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("assignment", String(64)),
    Column("choice", String(20)),
)
PAGE = Template(
    '<section id="task"><form hx-post="/vote">'
    '<input type="hidden" name="csrf_token" value="{{ csrf }}">'
    '<input type="hidden" name="assignment" value="{{ assignment }}">'
    "<p>{{ answered }} answered</p></form></section>"
)


def create_app() -> FastAPI:
    settings = Settings()
    engine = make_engine(settings)
    metadata.create_all(engine)
    factory = make_session_factory(engine)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/vote", response_class=HTMLResponse)
    def vote(
        assignment: Annotated[str, Form()],
        choice: Annotated[str, Form()],
        csrf_token: Annotated[str, Form()] = "",
        client_ms: Annotated[str, Form()] = "",
    ) -> str:
        with factory() as session:
            new_id = session.execute(
                insert(votes).values(assignment=assignment, choice=choice).returning(votes.c.id)
            ).scalar_one()
            session.commit()
        return PAGE.render(csrf=csrf_token, assignment=secrets.token_urlsafe(16), answered=new_id)

    return app
