"""What a reader without a sign-in may see of a study: nothing while it runs.

A study marked public becomes readable by anyone once it is closed. Even then the resolution a
generator uploaded at stays with researchers (annotators of other studies are shown every image
in one box, and the uploaded size would tell generators apart), and no image that an open study
serves is ever shown publicly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.leaderboard.board import Leaderboard
from app.models import Rendition, Study
from app.models.enums import StudyStatus
from app.services.studies.study import study_images

# Per-generator keys that give away the uploaded resolution.
RESOLUTION_KEYS = ("image_resolution", "resolutions")


def publicly_readable(study: Study) -> bool:
    return study.is_public and study.status == StudyStatus.closed


def _public_row(row: dict[str, Any]) -> dict[str, Any]:
    settings = {k: v for k, v in row["settings"].items() if k != "resolution"}
    images = {k: v for k, v in row["images"].items() if k not in RESOLUTION_KEYS}
    return {**row, "settings": settings, "images": images}


def public_leaderboard(lb: Leaderboard) -> Leaderboard:
    """The leaderboard without the generators' uploaded resolutions (same numbers otherwise)."""
    return dataclasses.replace(lb, rows=[_public_row(row) for row in lb.rows])


def images_open_studies_serve(session: Session) -> set[int]:
    """Every image an open study may show an annotator: its pool and anything it rendered."""
    served = set(
        session.scalars(
            select(Rendition.image_id)
            .join(Study, Study.id == Rendition.study_id)
            .where(Study.status == StudyStatus.open)
        )
    )
    for study in session.scalars(select(Study).where(Study.status == StudyStatus.open)):
        served.update(image_id for image_id, _g, _p in study_images(session, study))
    return served
