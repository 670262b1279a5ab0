"""The researcher's home page, sign-in landing there, the compare page, and the offline API docs."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.conftest import GENERATORS, Annotator, invite_urls, make_study
from tests.web.test_leaderboard import sign_in


def _key(arena) -> str:
    return arena.headers["Authorization"].split(" ", 1)[1]


def test_home_explains_and_offers_sign_in_without_listing_studies(pool):
    arena = pool
    make_study(arena, name="secret-study")
    page = TestClient(arena.app).get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Gallery Arena</h1>" in page.text
    assert 'href="/login?next=/"' in page.text
    assert "secret-study" not in page.text and GENERATORS[0] not in page.text
    assert "content-security-policy" in page.headers


def test_sign_in_lands_on_home_with_every_study(pool):
    arena = pool
    study = make_study(arena, name="pairs-on-home")
    make_study(arena, kind="rating", name="mos-on-home")
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    annotator.answer(page, choice="left")

    browser = TestClient(arena.app)
    form = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    landed = browser.post("/login", data={"api_key": _key(arena), "csrf_token": token})
    assert landed.status_code == 200 and str(landed.url).endswith("/")
    html = landed.text
    rows = re.findall(r'<tr data-study="([^"]+)">(.*?)</tr>', html, re.S)
    assert rows[-1][0] == study["public_id"]  # newest first
    assert len(rows) == 2
    row = dict(rows)[study["public_id"]]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[0] == "pairwise" and "open" in cells[1] and cells[2] == "3"
    assert cells[3] == "1"  # one vote
    assert "1 of 36 planned votes" in cells[4]  # 12 items x 3 raters
    assert f'href="/studies/{study["public_id"]}/leaderboard"' in row
    assert f'href="/studies/{study["public_id"]}/compare"' in row
    assert "none pending" in cells[5] or "queued" in cells[5]


def test_compare_page_shows_every_generator_for_one_prompt_to_researchers_only(pool):
    arena = pool
    study = make_study(arena, name="compare-me")
    anonymous = TestClient(arena.app)
    refused = anonymous.get(f"/studies/{study['public_id']}/compare", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next=")
    client = TestClient(arena.app)
    sign_in(client, _key(arena))
    page = client.get(f"/studies/{study['public_id']}/compare?prompt=2")
    assert page.status_code == 200
    assert "a red cube on a table, take 1" in page.text
    assert "prompt 2 of 4" in page.text
    for name in GENERATORS:
        assert f'aria-label="{name}"' in page.text
    images = re.findall(r'<img src="/media/([^"]+)"', page.text)
    assert len(images) == 3
    for public_id in images:
        shown = client.get(f"/media/{public_id}")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert 'rel="prev" href="?prompt=1"' in page.text and 'rel="next" href="?prompt=3"' in page.text
    missing = client.get(f"/studies/{study['public_id']}/compare?prompt=9")
    assert missing.status_code == 404 and "this study has 4 prompts" in missing.text


def test_api_docs_use_only_vendored_assets(arena):
    client = TestClient(arena.app)
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "/openapi.json" in page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/static/") for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
        assert "cdn." not in page.text and "fonts.googleapis" not in page.text
