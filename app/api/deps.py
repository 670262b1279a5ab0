"""What only the JSON API injects: a numeric row id in a path. The session, the settings, the
media store and the admin key come from app/deps/ (shared with the HTML pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from app.validation import MAX_ID

# A numeric row id in a path: ASCII digits within the INTEGER columns' range, else 422.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]
