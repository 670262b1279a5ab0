"""Reading stored images: listings and metadata-free bytes for admins and researchers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.media import MediaStore
from app.models import Image, Rendition


def list_images(
    session: Session,
    *,
    generator_id: int | None = None,
    reference_set_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Image]:
    query = select(Image).order_by(Image.id).limit(limit).offset(offset)
    if generator_id is not None:
        query = query.where(Image.generator_id == generator_id)
    if reference_set_id is not None:
        query = query.where(Image.reference_set_id == reference_set_id)
    return list(session.scalars(query))


def referenced_shas(session: Session, shas: set[str]) -> set[str]:
    """The subset of `shas` that some image or rendition row stores (what the garbage collector
    must keep)."""
    found: set[str] = set()
    ordered = sorted(shas)
    for start in range(0, len(ordered), 500):
        part = ordered[start : start + 500]
        found.update(session.scalars(select(Image.sha256).where(Image.sha256.in_(part))))
        found.update(session.scalars(select(Rendition.sha256).where(Rendition.sha256.in_(part))))
    return found


def known_hashes(
    session: Session,
    hashes: list[str],
    *,
    generator_id: int | None = None,
    reference_set_id: int | None = None,
) -> set[str]:
    """Which of these content hashes the generator (or reference set) already holds.

    Lets a client resume an interrupted upload: it skips what the server has.
    """
    owner = (
        Image.generator_id == generator_id
        if generator_id is not None
        else Image.reference_set_id == reference_set_id
    )
    known: set[str] = set()
    unique = sorted(set(hashes))
    for start in range(0, len(unique), 500):  # bounded IN lists on every backend
        chunk = unique[start : start + 500]
        known.update(session.scalars(select(Image.sha256).where(owner, Image.sha256.in_(chunk))))
    return known


def served_image_bytes(session: Session, store: MediaStore, public_id: str) -> bytes:
    """The metadata-free PNG of a stored image (researchers); the same 404 for unknown ids and
    missing files."""
    sha256 = session.scalar(select(Image.sha256).where(Image.public_id == public_id))
    if sha256 is None:
        raise NotFound("no such image")
    try:
        return store.read_served(sha256)
    except FileNotFoundError:
        raise NotFound("no such image") from None
