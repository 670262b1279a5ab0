"""Many votes at once on few route threads and few pooled connections.

A request's transaction is committed after its route returns, by the session dependency, on
threads of its own (app/db.py). Were the commit queued behind the route threads, a request that
finished its work would hold its connection while every route thread waited for a connection:
neither would move until the pool's timeout turned the waits into 500s.
"""

from __future__ import annotations

import asyncio

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import Assignment, Vote
from tests.conftest import running_arena
from tests.web.conftest import Annotator, Page, invite_urls, make_study, upload_pool

ANNOTATORS = 12


@pytest.fixture
def small_arena(settings):
    """The app with two route threads and (on PostgreSQL) two pooled connections."""
    with running_arena(settings.model_copy(update={"web_threads": 2, "db_pool_size": 2})) as arena:
        yield arena


def test_votes_beyond_threads_and_connections_all_land(small_arena):
    arena = small_arena
    upload_pool(arena)
    study = make_study(arena, raters_per_item=ANNOTATORS)
    people, pages = [], []
    for url in invite_urls(arena, study, ANNOTATORS):
        person = Annotator(TestClient(arena.app), url)
        pages.append(person.start())
        people.append(person)

    async def vote_all() -> list[httpx.Response]:
        # As the server runs them: sync routes on at most `web_threads` threads.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        transport = httpx.ASGITransport(app=arena.app)

        async def vote(person: Annotator, page: Page) -> httpx.Response:
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                cookies={c.name: c.value for c in person.client.cookies.jar},
            ) as client:
                data = {
                    "csrf_token": page.field("csrf_token"),
                    "assignment": page.field("assignment"),
                    "ahead": page.field("ahead"),
                    "choice": "left",
                }
                return await client.post(
                    f"{page.study_path}/vote", data=data, headers={"HX-Request": "true"}
                )

        return await asyncio.gather(*(vote(p, page) for p, page in zip(people, pages)))

    responses = asyncio.run(asyncio.wait_for(vote_all(), timeout=25))
    assert [r.status_code for r in responses] == [200] * ANNOTATORS, [
        r.text[:200] for r in responses if r.status_code != 200
    ]
    with arena.session_factory() as session:
        answered = session.scalars(
            select(Assignment.public_id)
            .join(Vote, Vote.assignment_id == Assignment.id)
            .where(Assignment.answered_at.is_not(None))
        ).all()
    assert sorted(answered) == sorted(page.field("assignment") for page in pages)
