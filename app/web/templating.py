"""The Jinja2 environment for every HTML page (templates/ at the repository root)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"

# Autoescaping is on for .html: prompt texts and study questions are shown as text, never markup.
templates = Jinja2Templates(directory=TEMPLATES_DIR)

# The researcher's pages (home, leaderboard, compare, sign-in): revalidated, never framed.
RESEARCHER_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def time_left(seconds: int | None) -> str:
    """A rough, human estimate of the time left ("about 4 min left"); empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "under a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes / 60:.1f} h left"


templates.env.filters["time_left"] = time_left
