"""Real browser (Debian's Chromium): a researcher's way in, with every non-loopback request
blocked. The home page explains and offers sign-in; signing in lands on the list of studies;
/docs and /redoc render from vendored files; the compare page opens its full-screen view;
the leaderboard has no page-level horizontal scroll at 1440 or 390 px. axe-core finds no
serious or critical violation on the home, compare and leaderboard pages. Screenshots go to
tests/artifacts/.
"""

from __future__ import annotations

import pytest

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from tests.browser.support import (
    ARTIFACTS,
    new_tab,
    serious_violations,
    serve_app,
)
from tests.support.leaderboard_seed import seed_leaderboard_study

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def served(arena):
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        public_id = seeded.study.public_id
    with serve_app(arena.app) as url:
        yield arena, url, public_id


def _no_page_scroll_x(tab) -> None:
    widths = tab.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    # On failure: the first elements that stick out of the window (outside scroll containers).
    wide = tab.evaluate(
        """() => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                          && !e.parentElement.closest('.lb-scroll'))
             .slice(0, 6).map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
                              + Math.round(e.getBoundingClientRect().right))"""
    )
    assert widths[0] <= widths[1], (widths, wide)


def _sign_in(tab, base, key) -> None:
    tab.goto(f"{base}/")
    tab.click("#sign-in")
    tab.fill("input[name=api_key]", key)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{base}/")


def test_home_sign_in_docs_and_compare_offline(served, browser):
    arena, base, public_id = served
    key = arena.headers["Authorization"].split(" ", 1)[1]
    ARTIFACTS.mkdir(exist_ok=True)
    context, tab = new_tab(browser, 1440, 900)

    tab.goto(f"{base}/")
    assert tab.locator("h1").inner_text() == "Gallery Arena"
    assert tab.locator("#sign-in").is_visible()
    assert not serious_violations(tab), serious_violations(tab)
    tab.screenshot(path=str(ARTIFACTS / "home-signed-out.png"), full_page=True)

    _sign_in(tab, base, key)
    row = tab.locator(f'tr[data-study="{public_id}"]')
    assert row.is_visible()
    assert "pairwise" in row.inner_text() and "open" in row.inner_text()
    assert not serious_violations(tab), serious_violations(tab)
    _no_page_scroll_x(tab)
    tab.screenshot(path=str(ARTIFACTS / "home-signed-in.png"), full_page=True)

    # Swagger UI and ReDoc, both from /static/vendor, with the outside world unreachable.
    tab.goto(f"{base}/docs")
    tab.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "Gallery Arena" in tab.locator(".swagger-ui .info .title").inner_text()
    tab.wait_for_selector(".opblock", timeout=30_000)
    tab.screenshot(path=str(ARTIFACTS / "docs.png"))
    tab.goto(f"{base}/redoc")
    tab.wait_for_selector("redoc h1", timeout=30_000)
    assert "Gallery Arena" in tab.locator("redoc h1").first.inner_text()
    tab.screenshot(path=str(ARTIFACTS / "redoc.png"))
    # ReDoc 2.x always asks for its maker's logo (and hides it when that fails): the only
    # outside request of any page here, and nothing depends on it.
    tab.errors[:] = [e for e in tab.errors if REDOC_LOGO not in e]
    tab.remote[:] = [url for url in tab.remote if url != REDOC_LOGO]

    # Compare: every generator's image for one prompt; a click opens the full-screen view.
    tab.goto(f"{base}/studies/{public_id}/compare")
    tab.wait_for_function(
        "() => [...document.querySelectorAll('#compare img')].every(i => i.complete && i.naturalWidth)"
    )
    images = tab.locator("#compare img")
    assert images.count() >= 3
    box = images.first.bounding_box()
    assert box["width"] >= 300  # large, not a thumbnail
    assert not serious_violations(tab), serious_violations(tab)
    tab.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    images.nth(1).click()
    tab.wait_for_selector("#lightbox[open]")
    first = tab.locator("#lightbox-caption").inner_text()
    tab.keyboard.press("ArrowRight")
    assert tab.locator("#lightbox-caption").inner_text() != first
    shown = tab.locator("#lightbox-image").bounding_box()
    assert shown["width"] >= 1400
    tab.keyboard.press("Escape")
    tab.wait_for_selector("#lightbox", state="hidden")
    assert not tab.errors, tab.errors
    assert not tab.remote, tab.remote
    context.close()


def test_leaderboard_fits_desktop_and_phone_with_truthful_plots(served, browser):
    arena, base, public_id = served
    key = arena.headers["Authorization"].split(" ", 1)[1]
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        context, tab = new_tab(browser, width, height)
        _sign_in(tab, base, key)
        tab.goto(f"{base}/studies/{public_id}/leaderboard")
        tab.wait_for_selector("#leaderboard")
        _no_page_scroll_x(tab)
        # The table scrolls in its own container, its generator column stays in view.
        scroller = tab.locator("#leaderboard").locator("xpath=..")
        sticky = tab.evaluate(
            "() => getComputedStyle(document.querySelector('#leaderboard tbody th')).position"
        )
        assert sticky == "sticky"
        if width == 390:
            assert tab.evaluate("e => e.scrollWidth > e.clientWidth", scroller.element_handle())
        # Every plot shown is a real image whose alt text describes what it shows.
        plots = tab.locator(".lb-plots img")
        assert plots.count() >= 2
        for i in range(plots.count()):
            image = plots.nth(i)
            image.scroll_into_view_if_needed()
            tab.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
            )
            alt = image.get_attribute("alt")
            assert "nothing to plot" not in alt and len(alt) > 40, alt
            if width == 1440:
                assert image.bounding_box()["width"] >= 600
        assert not serious_violations(tab), serious_violations(tab)
        tab.screenshot(path=str(ARTIFACTS / f"leaderboard-{width}x{height}.png"), full_page=True)
        assert not tab.errors, tab.errors
        assert not tab.remote, tab.remote
        context.close()
