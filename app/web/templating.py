"""The Jinja2 environment for every HTML page (templates/ at the repository root)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"

# Autoescaping is on for .html: prompt texts and study questions are shown as text, never markup.
templates = Jinja2Templates(directory=TEMPLATES_DIR)
