"""Real browser (Debian's Chromium through Playwright): a researcher reads the leaderboard.

Sign in with an admin key, watch the htmx refresh replace the table once the queued metrics job
is done, sort by the FID column (both directions), toggle the exclusions off, check the plots
rendered, and save a full-page screenshot under tests/artifacts/.
"""

from __future__ import annotations

import pytest

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from app.models import Job
from tests.browser.support import (
    ARTIFACTS,
    CHROMIUM,
    LAUNCH_ARGS,
    require_chromium,
    serve_app,
)
from tests.support.leaderboard_seed import seed_leaderboard_study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def served(arena):
    """A seeded private study, and the app on a free loopback port in a uvicorn thread."""
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        public_id, study_id = seeded.study.public_id, seeded.study.id
    with serve_app(arena.app) as url:
        yield arena, url, public_id, study_id


@pytest.fixture
def page():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        tab.on(
            "console",
            # The browser's own favicon request is the only 404 a page may cause.
            lambda m: (
                tab.errors.append(m.text)
                if m.type == "error" and "favicon" not in (m.location or {}).get("url", "")
                else None
            ),
        )
        yield tab
        browser.close()


def _generators_in_table(page) -> list[str]:
    return page.eval_on_selector_all(
        "#leaderboard tbody tr", "rows => rows.map(r => r.dataset.generator)"
    )


def test_researcher_sorts_toggles_and_sees_the_refresh(served, page):
    arena, base, public_id, study_id = served
    key = arena.headers["Authorization"].split(" ", 1)[1]
    api = arena.client.get(f"/api/studies/{study_id}/leaderboard", headers=arena.headers).json()
    fid = {r["generator"]: r["metrics"]["fid"]["value"] for r in api["rows"]}

    page.goto(f"{base}/studies/{public_id}/leaderboard")
    assert page.url.startswith(f"{base}/login"), "a private study must ask for sign-in"
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/studies/{public_id}/leaderboard")
    assert _generators_in_table(page) == [r["generator"] for r in api["rows"]]

    # A metrics job is queued: the table says so and htmx polls. Finish the job; the next poll
    # swaps in a table without the notice, without a page load.
    assert page.is_visible("#jobs-waiting")
    page.evaluate("window.__same_document = true")
    with arena.session_factory() as session:
        for job in session.query(Job).filter(Job.status == "queued"):
            job.status = "done"
        session.commit()
    page.wait_for_selector("#jobs-waiting", state="detached", timeout=15_000)
    assert page.evaluate("window.__same_document") is True
    assert "not computed" in page.inner_text(
        'tr[data-generator="ember"] td[data-field="diversity"]'
    )

    # Sort by FID: best (lowest) first, then the other way round.
    page.click('th[data-sort="fid"] a')
    page.wait_for_url("**sort=fid**")
    assert _generators_in_table(page) == sorted(fid, key=fid.get)
    assert page.get_attribute('th[data-sort="fid"]', "aria-sort") == "ascending"
    page.click('th[data-sort="fid"] a')
    page.wait_for_url("**dir=desc**")
    assert _generators_in_table(page) == sorted(fid, key=fid.get, reverse=True)

    # Exclusions off: the numbers are those of the JSON without exclusions, the sort is kept.
    assert "applied" in page.inner_text("#exclusions-state")
    page.click("#exclusions-toggle")
    page.wait_for_url("**exclusions=off**")
    assert "not applied" in page.inner_text("#exclusions-state")
    assert "sort=fid" in page.url
    everyone = arena.client.get(
        f"/api/studies/{study_id}/leaderboard",
        params={"exclusions": "off"},
        headers=arena.headers,
    ).json()
    for row in everyone["rows"]:
        shown = page.get_attribute(
            f'tr[data-generator="{row["generator"]}"] td[data-field="bt"]', "data-value"
        )
        assert float(shown) == row["human"]["bt"]

    # The plots are real images rendered by the server.
    for name in ("ratings", "win-rate", "precision-recall"):
        image = page.locator(f'img[src*="/plots/{name}.svg"]')
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=image.element_handle(),
            timeout=10_000,
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)
    assert (ARTIFACTS / "leaderboard.png").stat().st_size > 10_000
    assert page.errors == []
