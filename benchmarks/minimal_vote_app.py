"""The ceiling for benchmarks/vote_load.py: the least a vote endpoint can do on the same stack.

A sync FastAPI route behind the same uvicorn options and process count, a form parsed, one
INSERT through a SQLAlchemy session from app.db (the same engine and pool settings), the
commit, and a small Jinja page carrying the next form — nothing else: no sign-in, no rate
limit, no task logic. Served with `uvicorn minimal_vote_app:create_app --factory`.

The floor (`vote_load.py --floor`): the same endpoint making the round trips a vote makes and
nothing more, to tell the cost of the round trips from the cost of the vote's work. With
MINIMAL_EXTRA_STATEMENTS=N it runs N `SELECT 1` in the transaction before the INSERT, the way
the vote runs its statements (`hot_path.run`, on the driver); a vote runs four where this runs
one: the sign-in, the answer, the claim, the new task. With MINIMAL_RATE_LIMIT=1 it counts the request against two limits on the project's
limiter (its storage from the settings: Redis in the benchmark), as a vote does.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI, Form
from fastapi.responses import HTMLResponse
from jinja2 import Template
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, literal_column, select

from app.db import make_engine, make_session_factory
from app.deps.limits import RateLimiter
from app.services.studies.hot_path import run
from app.settings import Settings
from app.shared_state import rate_limit_storage

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
    extra_statements = int(os.environ.get("MINIMAL_EXTRA_STATEMENTS", "0"))
    limiter = (
        RateLimiter(rate_limit_storage(settings, engine))
        if os.environ.get("MINIMAL_RATE_LIMIT") == "1"
        else None
    )
    nothing = select(literal_column("1").label("one"))
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
        if limiter is not None:
            limiter.hit_all(
                ("minimal-ip", settings.vote_rate_per_ip, "answers from this address"),
                (f"minimal-annotator:{csrf_token}", settings.vote_rate_per_annotator, "answers"),
            )
        with factory() as session:
            for _ in range(extra_statements):
                run(session, nothing, {}).first()  # as the vote runs its statements
            new_id = session.execute(
                insert(votes).values(assignment=assignment, choice=choice).returning(votes.c.id)
            ).scalar_one()
            session.commit()
        return PAGE.render(csrf=csrf_token, assignment=secrets.token_urlsafe(16), answered=new_id)

    return app
