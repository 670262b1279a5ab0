"""The task page of a study with aspects, without JavaScript and with htmx: one row of radio
buttons per question, every aspect required (422 naming the missing one, nothing stored), one
vote per aspect stored and the task counted once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import Annotator as AnnotatorRow
from app.models import Vote
from tests.web.conftest import Annotator, invite_urls, make_study

ASPECTS = [
    {"key": "prompt", "question": "Does it show what the prompt asks?"},
    {"key": "realism", "question": "How realistic is it?"},
]


def _votes(arena):
    with arena.session_factory() as session:
        return [(v.aspect, v.rating) for v in session.scalars(select(Vote).order_by(Vote.id))]


def test_a_rating_task_with_aspects_without_javascript(pool):
    arena = pool
    study = make_study(arena, kind="rating", aspects=ASPECTS)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    for aspect in ASPECTS:
        assert aspect["question"] in page.html
        assert f'name="rating.{aspect["key"]}" value="5"' in page.html
    assert "Keys 1–5 answer the first question still open" in page.html

    missing = annotator.answer(page, htmx=False, **{"rating.prompt": "4"})
    assert missing.status_code == 422, missing.text
    assert "missing realism (How realistic is it?)" in missing.text
    assert _votes(arena) == []

    done = annotator.answer(page, htmx=False, **{"rating.prompt": "4", "rating.realism": "2"})
    assert done.status_code == 303, done.text
    assert _votes(arena) == [("prompt", 4), ("realism", 2)]
    with arena.session_factory() as session:
        (row,) = session.scalars(select(AnnotatorRow))
        assert row.n_answered == 1

    # A re-send with one answer changed is refused; the same answer is idempotent.
    changed = annotator.answer(page, htmx=False, **{"rating.prompt": "4", "rating.realism": "3"})
    assert changed.status_code == 409 and "realism" in changed.text
    again = annotator.answer(page, htmx=False, **{"rating.prompt": "4", "rating.realism": "2"})
    assert again.status_code == 303
    assert len(_votes(arena)) == 2


def test_a_pairwise_task_with_aspects_over_htmx_shows_the_next_task(pool):
    arena = pool
    study = make_study(arena, aspects=ASPECTS)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    assert 'data-key="q"' in page.html and 'data-key="1"' in page.html
    response = annotator.answer(page, **{"choice.prompt": "left", "choice.realism": "tie"})
    assert response.status_code == 200, response.text
    assert 'name="choice.realism"' in response.text  # the next task, with its rows
    with arena.session_factory() as session:
        stored = [(v.aspect, v.choice) for v in session.scalars(select(Vote).order_by(Vote.id))]
    assert stored == [("prompt", "left"), ("realism", "tie")]
