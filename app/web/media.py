"""Serving images to browsers under opaque ids, with headers that say nothing about their origin."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.db import SessionDep
from app.services.images import served_image_bytes

router = APIRouter(tags=["media"])


@router.get("/media/{public_id}", name="served_image", include_in_schema=False)
def served_image(public_id: str, request: Request, session: SessionDep) -> Response:
    data = served_image_bytes(session, request.app.state.media, public_id)
    # No ETag/Last-Modified (they could fingerprint a generator's upload), no filename.
    return Response(
        content=data,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
