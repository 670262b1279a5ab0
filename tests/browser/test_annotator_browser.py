"""Real browser (Debian's Chromium through Playwright): an annotator from invite to votes.

Open an invite, accept the instructions, vote on five pairs with the keyboard and five with the
mouse, rate three images, flag one; check the votes in the database, the left/right mapping and
the progress bar. A screenshot of the pairwise page is saved under tests/artifacts/, and one of
a task whose generators uploaded different resolutions, formats and alpha (issue 15).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Assignment, ImageToken, Rendition, Vote
from tests.browser.support import (
    ARTIFACTS,
    CHROMIUM,
    LAUNCH_ARGS,
    require_chromium,
    serve_app,
)
from tests.web.conftest import GENERATORS, invite_urls, make_study, mixed_sources, upload_pool

pytestmark = pytest.mark.browser


@pytest.fixture
def server(arena):
    """The test's app served by uvicorn on a free loopback port, in a thread."""
    with serve_app(arena.app) as url:
        arena.settings.base_url = url
        yield arena


@pytest.fixture
def page():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.errors = []
        page.on(
            "console",
            lambda m: page.errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        yield page
        context.close()
        browser.close()


def _ready(page) -> None:
    """Deferred scripts ran: keys pressed before keys.js is listening would be lost."""
    page.wait_for_selector("#task-form")
    page.wait_for_function("() => window.htmx && document.documentElement.dataset.keys === 'ready'")


def _progress(page) -> str:
    return page.locator("#progress-text").inner_text().strip()


def _shown(page) -> dict[str, str]:
    return {
        "assignment": page.locator("input[name=assignment]").get_attribute("value"),
        "left": page.locator("#image-left").get_attribute("src").rsplit("/", 1)[1],
        "right": page.locator("#image-right").get_attribute("src").rsplit("/", 1)[1],
    }


def _wait_for_next(page, previous_assignment: str, expected_progress: str) -> None:
    page.wait_for_function(
        "([prev]) => { const a = document.querySelector('input[name=assignment]');"
        " return !a || a.value !== prev; }",
        arg=[previous_assignment],
    )
    page.wait_for_function(
        "([text]) => document.querySelector('#progress-text').textContent.trim() === text",
        arg=[expected_progress],
    )
    _ready(page)


def _click_while_held_in_flight(page, choice: str) -> None:
    """Hold the vote request: every vote button must be disabled meanwhile, keys ignored."""
    held = []

    def hold(route) -> None:
        held.append(route)

    page.route("**/vote", hold)
    page.locator(f"#task-form button[value={choice}]").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#task-form button')].every(b => b.disabled)"
    )
    page.keyboard.press("2")  # a second answer while the first is in flight does nothing
    page.wait_for_timeout(200)
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/vote")


def test_annotator_votes_rates_and_flags_in_chromium(server, page):
    arena = server
    upload_pool(arena)
    pairwise = make_study(arena, name="browser-pairs")
    rating = make_study(arena, kind="rating", name="browser-mos")
    flag = make_study(arena, kind="flag", name="browser-flags")
    [pair_url] = invite_urls(arena, pairwise)
    [rating_url] = invite_urls(arena, rating)
    [flag_url] = invite_urls(arena, flag)

    # Invite → instructions (once) → first pairwise task.
    page.goto(pair_url)
    assert "Before you start" in page.content()
    page.get_by_role("button", name="I agree").click()
    _ready(page)
    assert _progress(page) == "0 / 12"
    page.evaluate("window.__sameDocument = true")  # survives htmx swaps, not a page load
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "pairwise-page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"pairwise screenshot: {shot}")

    seen: list[tuple[dict[str, str], str]] = []
    keys = [
        ("1", "left"),
        ("ArrowRight", "right"),
        ("3", "tie"),
        ("4", "both_bad"),
        ("ArrowLeft", "left"),
    ]
    for n, (key, choice) in enumerate(keys):
        shown = _shown(page)
        page.keyboard.press(key)
        _wait_for_next(page, shown["assignment"], f"{n + 1} / 12")
        seen.append((shown, choice))

    clicks = [
        ("Left", "left"),
        ("Right", "right"),
        ("Tie", "tie"),
        ("Both bad", "both_bad"),
        ("Right", "right"),
    ]
    for n, (_label, choice) in enumerate(clicks, start=len(keys)):
        shown = _shown(page)
        if n == len(keys):
            _click_while_held_in_flight(page, choice)
        else:
            page.locator(f"#task-form button[value={choice}]").click()
        _wait_for_next(page, shown["assignment"], f"{n + 1} / 12")
        seen.append((shown, choice))
    assert page.evaluate("window.__sameDocument") is True

    # Rating: three images, keys and a click.
    page.goto(rating_url)
    page.get_by_role("button", name="I agree").click()
    _ready(page)
    assert "excellent" in page.content()
    rated = []
    for n, how in enumerate(["5", "2", "click-4"]):
        assignment = page.locator("input[name=assignment]").get_attribute("value")
        if how.startswith("click"):
            page.locator("#task-form button[value='4']").click()
        else:
            page.keyboard.press(how)
        _wait_for_next(page, assignment, f"{n + 1} / 12")
        rated.append((assignment, int(how[-1])))

    # Flag: toggle two problems with the keys, submit with Enter.
    page.goto(flag_url)
    page.get_by_role("button", name="I agree").click()
    _ready(page)
    flagged = page.locator("input[name=assignment]").get_attribute("value")
    page.keyboard.press("1")
    page.keyboard.press("4")
    assert page.locator("input[value=anatomy]").is_checked()
    assert page.locator("input[value=artifacts]").is_checked()
    page.keyboard.press("Enter")
    _wait_for_next(page, flagged, "1 / 12")
    assert not page.errors, page.errors  # no script error, no CSP violation

    with arena.session_factory() as session:
        # Each shown URL is a one-off token naming a rendition of an image (issue 15).
        image_of = dict(
            session.execute(
                select(ImageToken.token, Rendition.image_id).join(
                    Rendition, Rendition.id == ImageToken.rendition_id
                )
            ).all()
        )
        for shown, choice in seen:
            assignment = session.scalar(
                select(Assignment).where(Assignment.public_id == shown["assignment"])
            )
            vote = session.scalar(select(Vote).where(Vote.assignment_id == assignment.id))
            assert vote is not None and vote.choice == choice
            # What the browser showed on the left is what the server stored as left.
            assert image_of[shown["left"]] == assignment.image_left_id
            assert image_of[shown["right"]] == assignment.image_right_id
            expected = {
                "left": "model_a",
                "right": "model_b",
                "tie": "tie",
                "both_bad": "tie (bothbad)",
            }
            assert vote.winner == expected[choice]
            assert vote.client_ms is not None and vote.client_ms >= 0 and vote.server_ms >= 0
        for assignment_id, value in rated:
            vote = session.scalar(
                select(Vote).join(Assignment).where(Assignment.public_id == assignment_id)
            )
            assert vote.rating == value
        vote = session.scalar(select(Vote).join(Assignment).where(Assignment.public_id == flagged))
        assert vote.flags == ["anatomy", "artifacts"]
        assert session.query(Vote).count() == 10 + 3 + 1


def test_invite_to_twenty_tasks_with_the_keyboard_alone(server, page):
    """No mouse at all: Enter accepts the instructions, then 20 pairwise votes by key."""
    arena = server
    prompts = {
        "name": "keyboard-prompts",
        "prompts": [
            {"external_id": f"k{i}", "text": f"a blue sphere in the snow, take {i}"}
            for i in range(8)
        ],
    }
    upload_pool(arena, prompts=prompts)  # 3 generators x 8 prompts: 24 pairwise items
    study = make_study(arena, name="keyboard-pairs", prompt_set=prompts["name"])
    [url] = invite_urls(arena, study)

    page.goto(url)
    assert "Before you start" in page.content()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.matches('button[type=submit]')"
    )
    page.keyboard.press("Enter")
    _ready(page)
    assert _progress(page) == "0 / 24"

    keys = {
        "1": "left",
        "2": "right",
        "3": "tie",
        "4": "both_bad",
        "ArrowLeft": "left",
        "ArrowRight": "right",
    }
    order = list(keys)
    expected = {}
    for n in range(20):
        shown = _shown(page)
        key = order[n % len(order)]
        page.keyboard.press(key)
        _wait_for_next(page, shown["assignment"], f"{n + 1} / 24")
        expected[shown["assignment"]] = keys[key]
    assert not page.errors, page.errors

    with arena.session_factory() as session:
        stored = dict(
            session.execute(
                select(Assignment.public_id, Vote.choice).join(
                    Vote, Vote.assignment_id == Assignment.id
                )
            ).all()
        )
    assert stored == expected  # 20 distinct tasks, each answered once, as pressed


def test_mixed_resolution_generators_are_shown_at_the_same_size(server, page):
    """512 px RGB PNG, 768 px JPEG and 512 px RGBA PNG: every task shows two images of one
    size, decoded by the browser at the study's box (768 px here: the largest source side)."""
    arena = server
    upload_pool(arena, sources=lambda g, p, name: mixed_sources(g, p, name, side=512))
    study = make_study(arena, name="mixed-sizes")
    [url] = invite_urls(arena, study)
    page.goto(url)
    page.get_by_role("button", name="I agree").click()
    _ready(page)
    ARTIFACTS.mkdir(exist_ok=True)
    for n in range(3):
        page.wait_for_function(
            "() => ['#image-left', '#image-right'].every("
            "s => document.querySelector(s).complete && document.querySelector(s).naturalWidth)"
        )
        sizes = page.evaluate(
            "() => ['#image-left', '#image-right'].map(s => { const i = document.querySelector(s);"
            " const r = i.getBoundingClientRect();"
            " return [i.naturalWidth, i.naturalHeight, Math.round(r.width), Math.round(r.height)]; })"
        )
        left, right = sizes
        assert left == right, sizes
        assert left[:2] == [768, 768]
        if n == 0:
            shot = ARTIFACTS / "pairwise-mixed-resolution.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"mixed-resolution screenshot: {shot}")
        shown = _shown(page)
        page.keyboard.press("1")
        _wait_for_next(page, shown["assignment"], f"{n + 1} / 12")
    assert not page.errors, page.errors
    # The generators really did upload different sizes.
    listed = {
        name: {
            (i["width"], i["height"])
            for i in arena.client.get(
                f"/api/generators/{name}/images", headers=arena.headers
            ).json()
        }
        for name in GENERATORS
    }
    assert listed == {
        GENERATORS[0]: {(512, 512)},
        GENERATORS[1]: {(768, 768)},
        GENERATORS[2]: {(512, 512)},
    }
