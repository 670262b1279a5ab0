"""The task page as an annotator meets it: an h1 and a labelled progress bar, a total fixed for
the session with a time estimate, "can't judge", the instructions again, annotator-worded errors."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.models import Assignment, Vote, utcnow
from tests.web.conftest import Annotator, Page, invite_urls, make_study


def _counts(arena) -> tuple[int, int]:
    with arena.session_factory() as session:
        votes = session.scalar(select(func.count()).select_from(Vote))
        skips = session.scalar(select(func.count()).where(Assignment.skipped_at.is_not(None)))
    return votes, skips


def _skip(annotator: Annotator, page: Page, htmx: bool = True):
    return annotator.post(
        f"{page.study_path}/skip",
        data={"csrf_token": page.field("csrf_token"), "assignment": page.field("assignment")},
        headers={"HX-Request": "true"} if htmx else {},
        follow_redirects=False,
    )


def test_task_page_structure_for_people_and_screen_readers(pool):
    arena = pool
    study = make_study(arena, instructions="Look closely at the hands.")
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    html = page.html
    assert re.search(r'<h1 class="question" id="task-title"[^>]*>', html)
    assert re.search(r'<progress id="progress"[^>]*aria-label="Tasks answered: 0 of 12"', html)
    assert 'aria-live="polite"' in html
    assert 'src="/static/task.js"' in html
    # What to judge, the way out, and the instructions again (link without JavaScript).
    assert "Both images were made for this prompt" in html
    assert "Can't judge" in html and 'formaction="/study/' in html
    help_link = re.search(r'id="help-link" href="([^"]+)"', html).group(1)
    again = annotator.get(help_link)
    assert again.status_code == 200
    assert "Look closely at the hands." in again.text and "Back to the tasks" in again.text
    assert "I agree" not in again.text  # consent is not asked again
    # The instructions are also in the page, for the `?` key.
    assert '<dialog id="help"' in html and "Look closely at the hands." in html
    # No model name anywhere an annotator can see.
    for name in ("SecretDiffusion", "HiddenGAN", "CovertFlow"):
        assert name not in html and name not in again.text


def test_cant_judge_is_stored_apart_from_votes_and_the_total_holds(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    assert 'id="progress-text">0 / 12<' in page.html
    skipped = page.field("assignment")
    response = _skip(annotator, page)
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith('<section id="task"')
    assert 'id="progress-text">1 / 12<' in response.text
    assert _counts(arena) == (0, 1)
    page = Page(response.text, page.study_path)
    assert page.field("assignment") != skipped
    response = annotator.answer(page, choice="left")
    assert 'id="progress-text">2 / 12<' in response.text
    assert re.search(r'id="time-left">[^<]*left<', response.text)
    # Without JavaScript: a redirect back to the task page.
    page = Page(response.text, page.study_path)
    plain = _skip(annotator, page, htmx=False)
    assert plain.status_code == 303
    assert 'id="progress-text">3 / 12<' in annotator.page(page.study_path).html
    assert _counts(arena) == (1, 2)
    # A vote on a task already marked "can't judge" is refused and stores nothing.
    late = annotator.post(
        f"{page.study_path}/vote",
        data={"csrf_token": page.field("csrf_token"), "assignment": skipped, "choice": "left"},
        headers={"HX-Request": "true"},
    )
    assert late.status_code == 410
    assert _counts(arena) == (1, 2)


def test_cant_judge_needs_the_csrf_token(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    refused = annotator.post(
        f"{page.study_path}/skip",
        data={"assignment": page.field("assignment")},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert _counts(arena) == (0, 0)


def test_an_empty_flag_answer_is_explained_to_the_annotator(pool):
    arena = pool
    study = make_study(arena, kind="flag")
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    response = annotator.answer(page)
    assert response.status_code == 422
    assert "Tick every problem you see, or “none of these”" in response.text
    assert "empty list" not in response.text
    assert _counts(arena) == (0, 0)


def _open_claims(arena) -> int:
    with arena.session_factory() as session:
        return session.scalar(
            select(func.count()).where(
                Assignment.answered_at.is_(None),
                Assignment.item_key.is_not(None),
                Assignment.expires_at > utcnow(),
            )
        )


def test_a_finished_session_holds_no_task_with_or_without_javascript(pool):
    """The task held ahead (and anything claimed past the session's total) goes back to the pool
    the moment the session ends, so other annotators can take those items at once."""
    arena = pool
    study = make_study(arena, max_tasks_per_annotator=3)
    first, second = invite_urls(arena, study, 2)
    for url, htmx in ((first, True), (second, False)):
        annotator = Annotator(TestClient(arena.app), url)
        page = annotator.start()
        assert 'name="ahead"' in page.html  # the page holds the next task ahead
        for _ in range(3):
            response = annotator.answer(page, htmx=htmx, choice="left")
            assert response.status_code in (200, 303), response.text
            html = response.text if htmx else annotator.page(page.study_path).html
            page = Page(html, page.study_path)
        assert 'id="thanks"' in page.html and 'name="assignment"' not in page.html
        assert _open_claims(arena) == 0
