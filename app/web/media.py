"""Stored images by their stable id, for researchers only (admin listings link here).

Annotators never see these URLs: a task's images come through per-showing tokens under
/study/{id}/image/ (app/web/annotate.py), rendered into the study's display box.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.db import SessionDep
from app.services.catalog.images import served_image_bytes
from app.web.researcher_session import ensure_researcher

router = APIRouter(tags=["media"])


@router.get("/media/{public_id}", name="served_image", include_in_schema=False)
def served_image(public_id: str, request: Request, session: SessionDep) -> Response:
    ensure_researcher(request, session)
    data = served_image_bytes(session, request.app.state.media, public_id)
    # No ETag/Last-Modified (they could fingerprint a generator's upload), no filename.
    return Response(
        content=data,
        media_type="image/png",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
