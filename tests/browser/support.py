"""What both browser tests need: Debian's Chromium, where screenshots go, and the app served by
uvicorn on a free loopback port in a thread (tests/support/served.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.served import serve_app

__all__ = [
    "ARTIFACTS",
    "AXE",
    "CHROMIUM",
    "LAUNCH_ARGS",
    "block_remote",
    "require_chromium",
    "serious_violations",
    "serve_app",
]

CHROMIUM = Path("/usr/lib/chromium/chromium")
# axe-core from npm (axe-core@4.14.1, MPL-2.0), pinned by tests/test_vendored.py.
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")


def block_remote(context) -> list[str]:
    """Abort every request that is not to the loopback server; returns the list of those tried."""
    tried: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            request_route.continue_()
        else:
            tried.append(url)
            request_route.abort()

    context.route("**/*", route)
    return tried


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (axe is injected by
    add_init_script(path=AXE) on the context, which a page's CSP does not block)."""
    return page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + " (" + v.impact + "): " + v.nodes.map(n => n.target.join(" ")).join(", "));
        }"""
    )


def new_tab(browser, width: int = 1440, height: int = 900, touch: bool = False):
    """A fresh browser context and page: axe-core injected, every non-loopback request blocked
    and listed on `tab.remote`, page errors and console errors (not a missing favicon) on
    `tab.errors`. Returns (context, tab)."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch
    )
    context.add_init_script(path=str(AXE))
    remote = block_remote(context)
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    tab.on(
        "console",
        lambda m: (
            tab.errors.append(f"{m.text} at {m.location}")
            if m.type == "error" and "favicon" not in (m.location or {}).get("url", "")
            else None
        ),
    )
    tab.remote = remote
    return context, tab
