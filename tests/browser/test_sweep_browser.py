"""Real browser: the quality–diversity sweep of a generator family on the leaderboard page.

The seeded study's five generators are one family swept over guidance scale; the page must
load the server-rendered sweep plot (an SVG the browser decodes), next to the other plots.
"""

from __future__ import annotations

import pytest

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from tests.browser.support import ARTIFACTS, serve_app
from tests.browser.test_leaderboard_browser import page  # noqa: F401 - fixture
from tests.support.leaderboard_seed import seed_leaderboard_study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def served(arena):
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(
            session, MediaStore(arena.settings.media_dir), family="painter"
        )
        session.commit()
        public_id, study_id = seeded.study.public_id, seeded.study.id
    with serve_app(arena.app) as url:
        yield arena, url, public_id, study_id


def test_the_sweep_plot_renders_in_the_browser(served, page):  # noqa: F811
    arena, base, public_id, study_id = served
    api = arena.client.get(f"/api/studies/{study_id}/leaderboard", headers=arena.headers).json()
    (family,) = api["quality_diversity"]
    assert family["family"] == "painter" and family["setting"] == "guidance_scale"
    assert [p["setting"] for p in family["points"]] == [3.5, 4.5, 5.5, 6.5, 7.5]

    page.goto(f"{base}/studies/{public_id}/leaderboard")
    page.fill("input[name=api_key]", arena.headers["Authorization"].split(" ", 1)[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/studies/{public_id}/leaderboard")
    figure = page.locator("figure", has=page.locator('img[src*="/plots/sweep.svg"]'))
    assert "Quality–diversity sweep" in figure.inner_text()
    image = page.locator('img[src*="/plots/sweep.svg"]')
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 300",
        arg=image.element_handle(),
        timeout=15_000,
    )
    svg = page.request.get(base + image.get_attribute("src"))
    assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
    text = svg.text()
    for label in ("painter", "guidance scale", "precision", "recall", "coverage", "FID"):
        assert label in text, label
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.screenshot(path=str(ARTIFACTS / "sweep.png"))
    assert page.errors == []
