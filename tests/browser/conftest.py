"""The Chromium the browser tests share (Debian's, driven by Playwright; never downloaded)."""

from __future__ import annotations

import pytest

from tests.browser.support import CHROMIUM, LAUNCH_ARGS, require_chromium


@pytest.fixture
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
