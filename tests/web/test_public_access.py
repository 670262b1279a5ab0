"""Issue 15 probes 1-3: nothing per generator is readable without a researcher while a study is
open, whatever the reader holds (nothing, or an annotator session); every /api route needs an
admin key; a public study is readable once closed, without uploaded resolutions; sample grids
keep to the study's own images and never show one that an open study serves."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.support.imagefactory import png_bytes
from tests.web.conftest import (
    GENERATORS,
    PROMPTS,
    Annotator,
    invite_urls,
    make_study,
    upload_pool,
)

DESCRIPTION = "Mode collapse: one cat crop, jittered"
# Generator names and fragments, the description, and the battle layout's model columns.
SECRETS = [
    *GENERATORS,
    *(name.split("-")[0] for name in GENERATORS),
    DESCRIPTION,
    "model_a",
    "48x32",
]


def _leaks(body: bytes) -> list[str]:
    lowered = body.lower()
    return [s for s in SECRETS if s.lower().encode() in lowered]


@pytest.fixture
def running(arena):
    """A public pairwise study, open, with a few votes from one annotator (through the pages)."""
    upload_pool(arena)
    patched = arena.client.patch(
        f"/api/generators/{GENERATORS[0]}", json={"description": DESCRIPTION}, headers=arena.headers
    )
    assert patched.status_code == 200, patched.text
    study = make_study(arena, name="public-running", is_public=True)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    for _ in range(3):
        response = annotator.answer(page, choice="left")
        assert response.status_code == 200
        page = type(page)(response.text, page.study_path)
    # The annotator's cookie, sent to every path (not only the study's): still nobody here.
    cookie = annotator.client.cookies.get("arena_session")
    assert cookie
    return arena, study, cookie


def _reader_urls(arena, study) -> list[str]:
    ref, pid = study["public_id"], study["public_id"]
    with arena.session_factory() as session:
        from app.models import Generator

        generator_ids = [g.id for g in session.query(Generator)]
    urls = [f"/api/studies/{ref}/leaderboard", f"/api/studies/{ref}/votes"]
    for what, formats in (
        ("votes", ("csv", "jsonl")),
        ("leaderboard", ("csv", "json")),
        ("metrics", ("csv", "json")),
    ):
        for fmt in formats:
            urls.append(f"/api/studies/{ref}/export?what={what}&format={fmt}")
            urls.append(f"/studies/{pid}/leaderboard/export?what={what}&format={fmt}")
    base = f"/studies/{pid}/leaderboard"
    urls += [base, f"{base}/board", f"{base}?exclusions=off"]
    urls += [f"{base}/plots/{name}.svg" for name in ("ratings", "win-rate", "precision-recall")]
    urls += [f"{base}/samples/{g}.svg" for g in generator_ids]
    return urls


def test_probes_1_2_3_an_open_public_study_reveals_nothing_per_generator(running):
    arena, study, cookie = running
    readers = {
        "anonymous": TestClient(arena.app),
        "annotator": TestClient(arena.app, cookies={"arena_session": cookie}),
    }
    urls = _reader_urls(arena, study)
    for who, client in readers.items():
        for url in urls:
            response = client.get(url, follow_redirects=False)
            assert response.status_code in (401, 303), (who, url, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login?"), (who, url)
            assert not _leaks(response.content), (who, url, _leaks(response.content))
    # The researcher reads all of it (the probe would have found the names there).
    researcher = TestClient(arena.app, headers=arena.headers)
    for url in urls:
        response = researcher.get(url)
        # A figure may have nothing to plot yet after three votes; everything else answers.
        assert response.status_code == 200 or "/plots/" in url, (url, response.text[:200])
    votes = researcher.get(f"/api/studies/{study['public_id']}/votes").text
    # Three votes on random pairs of three generators: one of them may be in none (1 in 27).
    assert "model_a" in votes and any(name in votes for name in GENERATORS)


def _api_routes(routes) -> list[APIRoute]:
    """Every route, through included routers (FastAPI wraps them since 0.16x)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes)
    return found


def test_every_api_route_needs_an_admin_key(arena):
    """Enumerated from the app itself: a route added later is covered without a test change."""
    client = TestClient(arena.app)
    routes = [r for r in _api_routes(arena.app.routes) if r.path.startswith("/api")]
    assert len(routes) >= 25
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods:
            response = client.request(method, path)
            assert response.status_code == 401, (method, route.path, response.status_code)
            wrong = client.request(method, path, headers={"Authorization": "Bearer arena_nope"})
            assert wrong.status_code in (401, 403), (method, route.path, wrong.status_code)


def test_a_public_study_is_readable_once_closed_without_uploaded_resolutions(running):
    arena, study, _cookie = running
    closed = arena.client.post(f"/api/studies/{study['id']}/close", headers=arena.headers)
    assert closed.status_code == 200
    anonymous = TestClient(arena.app)
    page = anonymous.get(f"/studies/{study['public_id']}/leaderboard")
    assert page.status_code == 200
    assert all(name in page.text for name in GENERATORS)
    assert "48x32" not in page.text and ">resolution<" not in page.text
    exported = anonymous.get(
        f"/studies/{study['public_id']}/leaderboard/export",
        params={"what": "leaderboard", "format": "json"},
    )
    assert exported.status_code == 200
    for row in exported.json()["rows"]:
        assert "resolution" not in row["settings"] and "image_resolution" not in row["images"]
    as_csv = anonymous.get(
        f"/studies/{study['public_id']}/leaderboard/export",
        params={"what": "leaderboard", "format": "csv"},
    ).text
    assert "resolution" not in as_csv.splitlines()[0]
    votes = anonymous.get(
        f"/studies/{study['public_id']}/leaderboard/export",
        params={"what": "votes", "format": "csv"},
    )
    assert votes.status_code == 200 and "model_a" in votes.text
    # The API stays admin-only; researchers still see the resolution.
    assert anonymous.get(f"/api/studies/{study['public_id']}/leaderboard").status_code == 401
    researcher = TestClient(arena.app, headers=arena.headers)
    assert "48x32" in researcher.get(f"/studies/{study['public_id']}/leaderboard").text
    # A public study that is only a draft is not readable either.
    draft = arena.client.post(
        "/api/studies",
        json={
            "name": "public-draft",
            "kind": "pairwise",
            "generators": list(GENERATORS),
            "is_public": True,
        },
        headers=arena.headers,
    ).json()
    response = anonymous.get(f"/studies/{draft['public_id']}/leaderboard", follow_redirects=False)
    assert response.status_code == 303


def _grid_images(response) -> int:
    assert response.status_code == 200, response.text
    return response.text.count("<image")


def test_probe3_samples_keep_to_the_study_and_never_show_what_an_open_study_serves(arena):
    upload_pool(arena)  # blind-prompts: 4 prompts
    second = {
        "name": "second-prompts",
        "prompts": [
            {"external_id": f"s{i}", "text": f"a yellow torus, take {i}"} for i in range(3)
        ],
    }
    assert (
        arena.client.post("/api/prompt-sets", json=second, headers=arena.headers).status_code == 201
    )

    def others(g_index, p_index, name):
        return png_bytes(500 + 10 * g_index + p_index, tag=name), f"{name}_s{p_index}.png"

    upload_pool(arena, prompts=second, sources=others, register=False)
    # The closed public study asks about the first prompt set; an open one about the second.
    done = make_study(arena, name="done", is_public=True)
    assert (
        arena.client.post(f"/api/studies/{done['id']}/close", headers=arena.headers).status_code
        == 200
    )
    make_study(arena, name="running-second", prompt_set=second["name"])
    with arena.session_factory() as session:
        from app.models import Generator

        gid = session.query(Generator).filter_by(name=GENERATORS[0]).one().id
    grid = f"/studies/{done['public_id']}/leaderboard/samples/{gid}.svg"
    anonymous = TestClient(arena.app)
    researcher = TestClient(arena.app, headers=arena.headers)
    # Only the study's own images (4 of the generator's 7), for the public and researchers.
    assert _grid_images(anonymous.get(grid)) == len(PROMPTS["prompts"])
    assert _grid_images(researcher.get(grid)) == len(PROMPTS["prompts"])
    # Another open study starts serving the same images: gone from the public grid at once.
    make_study(arena, name="running-first")
    hidden = anonymous.get(grid)
    assert hidden.status_code == 404 and "no images that can be shown" in hidden.json()["detail"]
    assert _grid_images(researcher.get(grid)) == len(PROMPTS["prompts"])


def test_the_researcher_cookie_names_no_database_row_and_dies_at_logout(running):
    from itsdangerous import base64_decode

    from app.models import ApiKey, ResearcherSession
    from tests.web.test_leaderboard import sign_in

    arena, study, _cookie = running
    browser = TestClient(arena.app)
    sign_in(browser, arena.headers["Authorization"].split(" ", 1)[1])
    cookie = browser.cookies.get("arena_researcher")
    payload = json.loads(base64_decode(cookie.split(".")[0]))
    assert set(payload) == {"s"} and re.fullmatch(r"[A-Za-z0-9_-]{43}", payload["s"])
    with arena.session_factory() as session:
        key_ids = {k.id for k in session.query(ApiKey)}
        stored = [r.token_hash for r in session.query(ResearcherSession)]
    assert stored == [hashlib.sha256(payload["s"].encode()).hexdigest()] and key_ids
    page = f"/studies/{study['public_id']}/leaderboard"
    response = browser.get(page)
    assert response.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
    assert (
        browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code
        == 303
    )
    # The same cookie, replayed after logout, is nobody.
    replay = TestClient(arena.app, cookies={"arena_researcher": cookie})
    assert replay.get(page, follow_redirects=False).status_code == 303
