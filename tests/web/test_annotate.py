"""Annotator pages: invite → consent → tasks → thank-you, and every refusal (403/404/409/410/422/429).

Each refusal asserts the status, the message, and that no vote was stored.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.models import Assignment, Vote, utcnow
from tests.web.conftest import Annotator, invite_urls, make_study, path_of


def n_votes(arena) -> int:
    with arena.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Vote))


def browser(arena) -> TestClient:
    return TestClient(arena.app)


def assert_refused(arena, response, status, fragment, before=0):
    assert response.status_code == status, response.text
    assert fragment in response.text, response.text
    assert n_votes(arena) == before


def test_invite_consent_once_then_all_tasks_to_thank_you(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    invite = annotator.get(path_of(url), follow_redirects=False)
    assert invite.status_code == 303
    cookie = invite.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/study/" in cookie
    assert url.split("/")[-1] not in invite.headers["location"]  # the token leaves the URL
    consent = annotator.get(invite.headers["location"])
    assert "Before you start" in consent.text and "I agree" in consent.text
    page = annotator.start()
    assert "Before you start" not in page.html  # consent is asked once
    assert 'id="progress-text">0 / 12<' in page.html
    seen = set()
    for n in range(12):
        seen.add(page.field("assignment"))
        response = annotator.answer(page, choice=("left", "right", "tie", "both_bad")[n % 4])
        assert response.status_code == 200, response.text
        assert response.text.lstrip().startswith('<section id="task"')  # a partial, not a page
        assert f'id="progress-text">{n + 1} / 12<' in response.text
        page = type(page)(response.text, page.study_path)
    assert "Thank you" in page.html and len(seen) == 12
    assert n_votes(arena) == 12
    # Without JavaScript: the task page itself now shows the thank-you note.
    assert "Thank you" in annotator.page(page.study_path).html


def test_forms_work_without_javascript(pool):
    arena = pool
    study = make_study(arena, kind="rating", name="mos")
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    assert 'data-kind="rating"' in page.html and "excellent" in page.html
    response = annotator.answer(page, htmx=False, rating="5")
    assert response.status_code == 303 and response.headers["location"] == page.study_path
    assert n_votes(arena) == 1
    # Same answer again: the stored result, nothing new.
    assert annotator.answer(page, htmx=False, rating="5").status_code == 303
    assert n_votes(arena) == 1


def test_flag_task_with_checklist_and_none_of_these(pool):
    arena = pool
    study = make_study(arena, kind="flag", name="failures")
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    for option in (
        "anatomy",
        "text rendering",
        "object count",
        "artifacts",
        "ignores prompt",
        "unsafe",
    ):
        assert f'value="{option}"' in page.html
    both = annotator.answer(page, flags=["anatomy"], none_of_these="1")
    assert_refused(arena, both, 422, "not both")
    response = annotator.answer(page, flags=["unsafe", "anatomy"])
    assert response.status_code == 200
    page = type(page)(response.text, page.study_path)
    assert annotator.answer(page, none_of_these="1").status_code == 200
    with arena.session_factory() as session:
        flags = [v.flags for v in session.scalars(select(Vote).order_by(Vote.id))]
    assert flags == [["anatomy", "unsafe"], []]


def test_vote_fields_are_text_and_empty_ones_count_as_absent(pool):
    """The vote's form (app/web/annotate.vote_form): a file or a control character in a field
    is a 422 that names it, an empty optional field is absent."""
    arena = pool
    study = make_study(arena, name="form-fields")
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    fields = {"csrf_token": page.field("csrf_token"), "assignment": page.field("assignment")}
    as_file = annotator.post(
        f"{page.study_path}/vote",
        data=fields,
        files={"choice": ("choice.txt", b"left", "text/plain")},
        headers={"HX-Request": "true"},
    )
    assert_refused(arena, as_file, 422, "choice&#39; must be text, not a file")
    nul = annotator.answer(page, choice="left", client_ms="9\x00")
    assert_refused(arena, nul, 422, "client_ms&#39; contains the control character U+0000")
    # Empty rating, flags and client time are absent: a pairwise answer goes through.
    response = annotator.answer(page, choice="left", rating="", client_ms="", ahead="")
    assert response.status_code == 200, response.text
    with arena.session_factory() as session:
        votes = session.scalars(select(Vote)).all()
    assert [(v.choice, v.rating, v.client_ms) for v in votes] == [("left", None, None)]


def _posted(body: bytes, content_type: str = "application/x-www-form-urlencoded"):
    from starlette.requests import Request

    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode())],
    }
    return Request(scope, receive)


@pytest.mark.parametrize(
    "body",
    [
        b"a=1&b=&c",
        b"x=%C3%A9+y&z=%ZZ",
        b"a=1&a=2",
        "\u00e4=\u00f6".encode(),
        b"a=1;b=2",
        b"&&a=1&",
        b"=v&k==",
        b"a=%00",
        b"choice.q1=left&rating.q2=3",
    ],
)
def test_the_vote_form_is_read_as_starlette_reads_it(body):
    """The vote's URL-encoded form is split by the standard library (annotate._form): the
    same fields, in the same order, decoded the same way as Starlette's parser gives them."""
    from app.web.annotate import _form

    async def both():
        ours = await _form(_posted(body))
        theirs = await _posted(body).form()
        return list(ours.multi_items()), list(theirs.multi_items())

    ours, theirs = asyncio.run(both())
    assert ours == theirs


def test_a_vote_form_with_too_many_fields_is_refused(pool):
    arena = pool
    study = make_study(arena, name="form-many")
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    body = "&".join(f"f{k}=x" for k in range(1001))
    response = annotator.post(
        f"{page.study_path}/vote",
        content=body.encode(),
        headers={"HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_refused(arena, response, 422, "more than 1000 fields")


def test_csrf_token_is_required_on_every_post(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    first = annotator.get(path_of(url))
    study_path = "/" + str(first.url).split("/", 3)[3]
    refused = annotator.post(f"{study_path}/consent", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "security token" in refused.text
    page = annotator.start()
    data = {"assignment": page.field("assignment"), "choice": "left"}
    assert_refused(
        arena,
        annotator.post(f"{page.study_path}/vote", data=data),
        403,
        "security token",
    )
    forged = {**data, "csrf_token": "0" * 64}
    assert_refused(
        arena,
        annotator.post(f"{page.study_path}/vote", data=forged),
        403,
        "security token",
    )
    # A token from another annotator's session does not work with mine.
    [other_url] = invite_urls(arena, study)
    other = Annotator(browser(arena), other_url).start()
    stolen = {**data, "csrf_token": other.field("csrf_token")}
    assert_refused(
        arena,
        annotator.post(f"{page.study_path}/vote", data=stolen),
        403,
        "security token",
    )


def test_no_session_or_a_forged_cookie_is_refused(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    page = Annotator(browser(arena), url).start()
    anonymous = browser(arena)
    assert_refused(arena, anonymous.get(page.study_path), 403, "invite link")
    anonymous.cookies.set("arena_session", "eyJhIjoxfQ.forged")
    response = anonymous.post(
        f"{page.study_path}/vote",
        data={
            "assignment": page.field("assignment"),
            "choice": "left",
            "csrf_token": page.field("csrf_token"),
        },
    )
    assert_refused(arena, response, 403, "invite link")
    bad_invite = anonymous.get("/invite/not-a-real-token")
    assert_refused(arena, bad_invite, 403, "not valid")
    assert anonymous.get("/study/unknown-study-id").status_code == 404


def test_vote_for_someone_elses_unknown_expired_or_changed_assignment(pool):
    arena = pool
    study = make_study(arena)
    first_url, second_url = invite_urls(arena, study, 2)
    me = Annotator(browser(arena), first_url)
    page = me.start()
    them = Annotator(browser(arena), second_url)
    theirs = them.start()
    # 403: an assignment issued to another annotator.
    stolen = me.post(
        f"{page.study_path}/vote",
        data={
            "assignment": theirs.field("assignment"),
            "choice": "left",
            "csrf_token": page.field("csrf_token"),
        },
    )
    assert_refused(arena, stolen, 403, "another annotator")
    # 404: never issued.
    missing = me.post(
        f"{page.study_path}/vote",
        data={
            "assignment": "never-issued",
            "choice": "left",
            "csrf_token": page.field("csrf_token"),
        },
    )
    assert_refused(arena, missing, 404, "no such task")
    # 422: not a valid choice.
    assert_refused(arena, me.answer(page, choice="middle"), 422, "choice must be one of")
    # 409: answered, then a different answer.
    assert me.answer(page, choice="left").status_code == 200
    assert_refused(arena, me.answer(page, choice="right"), 409, "different answer", before=1)
    assert me.answer(page, choice="left").status_code == 200  # same answer: no-op
    assert n_votes(arena) == 1
    # 410: expired before it was answered.
    with arena.session_factory() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.public_id == theirs.field("assignment"))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    response = them.answer(theirs, choice="left")
    assert_refused(arena, response, 410, "expired", before=1)


def test_closed_study_accepts_no_votes(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    assert (
        arena.client.post(f"/api/studies/{study['id']}/close", headers=arena.headers).status_code
        == 200
    )
    assert_refused(arena, annotator.answer(page, choice="left"), 409, "closed")
    assert annotator.get(page.study_path).status_code == 409


def test_vote_and_invite_rate_limits(pool):
    arena = pool
    arena.settings.vote_rate_per_annotator = 3
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    for _ in range(3):
        response = annotator.answer(page, choice="left")
        assert response.status_code == 200
        page = type(page)(response.text, page.study_path)
    limited = annotator.answer(page, choice="left")
    assert_refused(arena, limited, 429, "too many answers", before=3)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["hx-retarget"] == "#flash"  # htmx shows it; the task stays

    arena.settings.vote_rate_per_annotator = 1000
    arena.settings.vote_rate_per_ip = 2
    arena.app.state.rate_limiter = None
    [url2] = invite_urls(arena, study)
    other = Annotator(browser(arena), url2)
    page = other.start()
    for _ in range(2):
        page = type(page)(other.answer(page, choice="left").text, page.study_path)
    assert other.answer(page, choice="left").status_code == 429
    assert "from this address" in other.responses[-1].text

    arena.settings.invite_rate_per_ip = 2
    arena.app.state.rate_limiter = None  # forget the invites opened above
    client = browser(arena)
    codes = [client.get(path_of(url), follow_redirects=False).status_code for _ in range(3)]
    assert codes == [303, 303, 429]


def test_annotator_pages_send_protective_headers(pool):
    arena = pool
    study = make_study(arena)
    [url] = invite_urls(arena, study)
    annotator = Annotator(browser(arena), url)
    page = annotator.start()
    response = annotator.responses[-1]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "/static/htmx-2.0.11.min.js" in page.html and "/static/keys.js" in page.html
    assert "https://" not in page.html  # no CDN
