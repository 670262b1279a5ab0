"""Attention-check material: heavily degraded copies of pool images (blurred and noised).

How a copy looks and is served is decided in app/display.py and app/services/studies/renditions.py:
each study renders its check copies ahead of time, in its display box, like real images.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CheckImage


def check_image_for(session: Session, source_image_id: int) -> CheckImage:
    """The degraded copy of an image, created on first use (one per source image)."""
    existing = session.scalar(
        select(CheckImage).where(CheckImage.source_image_id == source_image_id)
    )
    if existing is not None:
        return existing
    row = CheckImage(source_image_id=source_image_id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except Exception:
        # Created concurrently by another request: use that one.
        row = session.scalar(
            select(CheckImage).where(CheckImage.source_image_id == source_image_id)
        )
        if row is None:
            raise
    return row
