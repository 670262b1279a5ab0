"""What every `arena` command module shares, kept light: `arena --help` imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings


def load_settings() -> Settings:
    """The one Settings object, read from the environment when a command runs (pydantic-settings
    is imported then, not when the command line is parsed)."""
    from app.settings import Settings

    return Settings()
