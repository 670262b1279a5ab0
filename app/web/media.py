"""Stored images by their stable id, for researchers only (admin listings link here).

Annotators never see these URLs: a task's images come through per-showing tokens under
/study/{id}/image/ (app/web/annotate.py), rendered into the study's display box.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.db import SessionDep
from app.deps.common import StoreDep
from app.deps.researcher import ReaderDep
from app.services.catalog.images import served_image_bytes

router = APIRouter(tags=["media"])


@router.get("/media/{public_id}", name="served_image", include_in_schema=False)
def served_image(
    public_id: str, session: SessionDep, store: StoreDep, reader: ReaderDep
) -> Response:
    reader.ensure_researcher()
    data = served_image_bytes(session, store, public_id)
    # No ETag/Last-Modified (they could fingerprint a generator's upload), no filename.
    return Response(
        content=data,
        media_type="image/png",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
