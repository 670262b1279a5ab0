"""Real browser (Debian's Chromium): a study with aspects. The annotator answers one task's
three questions with each row's own keys (1-4, Q-R, U-P; the key that answers the last open
row submits), every aspect's vote is stored, and a researcher switches the leaderboard between
aspects (aria-current follows) and sees every aspect side by side. Rating aspects share the
digits 1-5, which answer the first question still open."""

from __future__ import annotations

import json

import pytest

from tests.browser.support import (
    new_tab,
    serious_violations,
    serve_app,
)
from tests.web.conftest import invite_urls, make_study, upload_pool

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

ASPECTS = [
    {"key": "prompt", "question": "Which matches the prompt better?"},
    {"key": "realism", "question": "Which looks more realistic?"},
    {"key": "aesthetics", "question": "Which is more beautiful?"},
]


def _ready(tab) -> None:
    tab.wait_for_selector("#task-form")
    tab.wait_for_function(
        "() => window.htmx && document.documentElement.dataset.keys === 'ready'"
        " && document.documentElement.dataset.taskJs === 'ready'"
    )


def _next_task(tab, previous: str) -> None:
    tab.wait_for_function(
        "([prev]) => { const a = document.querySelector('input[name=assignment]');"
        " return !a || a.value !== prev; }",
        arg=[previous],
    )


def test_aspect_keys_answer_a_task_and_the_leaderboard_switches_aspects(arena, browser):
    upload_pool(arena)
    study = make_study(arena, name="aspects", aspects=ASPECTS)
    with serve_app(arena.app) as base:
        arena.settings.base_url = base
        [url] = invite_urls(arena, study)
        context, tab = new_tab(browser)
        tab.goto(url)
        tab.get_by_role("button", name="I agree").click()
        _ready(tab)
        questions = tab.locator("fieldset[data-aspect] legend").all_inner_texts()
        assert questions == [a["question"] for a in ASPECTS]
        assert not serious_violations(tab), serious_violations(tab)

        # Two rows answered: nothing is sent yet; the third row's key sends the task.
        first = tab.locator("input[name=assignment]").get_attribute("value")
        tab.keyboard.press("2")  # prompt: right
        tab.keyboard.press("q")  # realism: left
        assert tab.locator("input[name=assignment]").get_attribute("value") == first
        assert tab.is_checked('input[name="choice.prompt"][value=right]')
        assert tab.is_checked('input[name="choice.realism"][value=left]')
        tab.keyboard.press("o")  # aesthetics: tie -> submitted
        _next_task(tab, first)
        _ready(tab)

        # Enter submits too, once every row has an answer (clicks answer rows as well).
        second = tab.locator("input[name=assignment]").get_attribute("value")
        tab.click('input[name="choice.prompt"][value=both_bad]')
        tab.keyboard.press("w")
        tab.keyboard.press("u")
        _next_task(tab, second)
        assert not tab.errors, tab.errors
        assert not tab.remote, tab.remote

        votes = arena.client.get(
            f"/api/studies/{study['id']}/export",
            params={"what": "votes", "format": "jsonl", "exclusions": "off"},
            headers=arena.headers,
        )
        rows = [json.loads(line) for line in votes.text.splitlines()]
        answers = {(r["assignment"], r["aspect"]): r["choice"] for r in rows}
        assert answers == {
            (first, "prompt"): "right",
            (first, "realism"): "left",
            (first, "aesthetics"): "tie",
            (second, "prompt"): "both_bad",
            (second, "realism"): "right",
            (second, "aesthetics"): "left",
        }
        context.close()

        # The leaderboard: sign in, switch aspects.
        context, tab = new_tab(browser)
        key = arena.headers["Authorization"].split(" ", 1)[1]
        tab.goto(f"{base}/studies/{study['public_id']}/leaderboard")
        tab.fill("input[name=api_key]", key)
        tab.click("button[type=submit]")
        tab.wait_for_selector("#aspect-switch")
        current = tab.locator('#aspect-switch a[aria-current="page"]')
        assert current.get_attribute("data-aspect") == "prompt"
        headers = tab.locator("#aspect-table thead th").all_inner_texts()
        assert headers == ["generator", "prompt (shown)", "realism", "aesthetics"]
        tab.click('#aspect-switch a[data-aspect="realism"]')
        tab.wait_for_url("**aspect=realism**")
        current = tab.locator('#aspect-switch a[aria-current="page"]')
        assert current.get_attribute("data-aspect") == "realism"
        assert "Which looks more realistic?" in tab.inner_text("#aspect-switch")
        assert "realism (shown)" in tab.locator("#aspect-table thead").inner_text()
        # The exports follow the aspect shown.
        board_export = tab.locator('.lb-exports a[href*="what=leaderboard"]').first
        assert "aspect=realism" in board_export.get_attribute("href")
        assert not serious_violations(tab), serious_violations(tab)
        assert not tab.errors, tab.errors
        context.close()


def test_rating_aspects_share_the_digits_which_answer_the_first_open_question(arena, browser):
    upload_pool(arena)
    study = make_study(arena, kind="rating", name="rated-aspects", aspects=ASPECTS[:2])
    with serve_app(arena.app) as base:
        arena.settings.base_url = base
        [url] = invite_urls(arena, study)
        context, tab = new_tab(browser)
        tab.goto(url)
        tab.get_by_role("button", name="I agree").click()
        _ready(tab)
        first = tab.locator("input[name=assignment]").get_attribute("value")
        tab.keyboard.press("4")  # the first question
        assert tab.is_checked('input[name="rating.prompt"][value="4"]')
        assert tab.locator("input[name=assignment]").get_attribute("value") == first
        tab.keyboard.press("2")  # the second, the last open one: sent
        _next_task(tab, first)
        assert not tab.errors, tab.errors
        assert not tab.remote, tab.remote
        votes = arena.client.get(
            f"/api/studies/{study['id']}/export",
            params={"what": "votes", "format": "jsonl", "exclusions": "off"},
            headers=arena.headers,
        )
        rows = [json.loads(line) for line in votes.text.splitlines()]
        assert {(r["assignment"], r["aspect"]): r["rating"] for r in rows} == {
            (first, "prompt"): 4,
            (first, "realism"): 2,
        }
        context.close()
