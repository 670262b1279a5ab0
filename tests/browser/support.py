"""What both browser tests need: Debian's Chromium, where screenshots go, and the app served by
uvicorn on a free loopback port in a thread (tests/support/served.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.served import serve_app

__all__ = ["ARTIFACTS", "CHROMIUM", "LAUNCH_ARGS", "require_chromium", "serve_app"]

CHROMIUM = Path("/usr/lib/chromium/chromium")
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
