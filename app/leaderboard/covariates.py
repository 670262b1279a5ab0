"""Per-image covariates for controlled Bradley-Terry: what they are, where they come from.

Resolution, aspect ratio and encoded size come from the columns every image has (width, height,
byte_size); brightness and saturation are measured at upload (app.imaging.appearance) and, for
images stored before revision 0013, by `arena media covariates` (backfill_appearance).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.imaging import appearance_of_png
from app.media import MediaStore
from app.models import Image

# name -> what the value is (every value is positive or zero, as normalized differences need).
COVARIATES: dict[str, str] = {
    "resolution": "pixels (width x height) of the uploaded image",
    "aspect_ratio": "width / height",
    "encoded_size": "bytes of the uploaded file",
    "brightness": "mean luma of the served pixels, 0-1",
    "saturation": "mean HSV saturation of the served pixels, 0-1",
}
BACKFILL_COMMAND = "arena media covariates"


def parse_covariates(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Covariate names from "a,b" or a list, checked against COVARIATES, in a canonical order."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = {p.strip() for p in parts if p and p.strip()}
    unknown = sorted(names - COVARIATES.keys())
    if unknown:
        raise InvalidInput(
            f"unknown covariate(s) {', '.join(unknown)}; choose from {', '.join(COVARIATES)}"
        )
    return tuple(name for name in COVARIATES if name in names)


def _values(width, height, byte_size, brightness, saturation) -> dict[str, float | None]:
    return {
        "resolution": float(width * height),
        "aspect_ratio": width / height if height else None,
        "encoded_size": float(byte_size),
        "brightness": brightness,
        "saturation": saturation,
    }


def image_covariates(
    session: Session, image_ids: Iterable[int]
) -> dict[int, dict[str, float | None]]:
    """Every covariate of each image (None where brightness/saturation were never measured)."""
    wanted = sorted({i for i in image_ids if i is not None})
    out: dict[int, dict[str, float | None]] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        for row in session.execute(
            select(
                Image.id,
                Image.width,
                Image.height,
                Image.byte_size,
                Image.brightness,
                Image.saturation,
            ).where(Image.id.in_(part))
        ):
            out[row[0]] = _values(*row[1:])
    return out


def backfill_appearance(session: Session, store: MediaStore, *, chunk: int = 200) -> dict[str, int]:
    """Measure brightness and saturation of every image that lacks them, from its served copy.

    Flushes per chunk (the caller commits). Images whose served file is missing are counted and
    left NULL; a leaderboard asked to control for these covariates then says which are missing.
    """
    measured = missing = 0
    last = 0
    while True:
        images = list(
            session.scalars(
                select(Image)
                .where(Image.id > last, (Image.brightness.is_(None)) | (Image.saturation.is_(None)))
                .order_by(Image.id)
                .limit(chunk)
            )
        )
        if not images:
            break
        for image in images:
            last = image.id
            try:
                data = store.read_served(image.sha256)
            except OSError:
                missing += 1
                continue
            image.brightness, image.saturation = appearance_of_png(data)
            measured += 1
        session.flush()
    return {"measured": measured, "missing_files": missing}
