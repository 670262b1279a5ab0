"""Attention-check material: heavily degraded copies of pool images (blurred and noised).

A degraded copy is derived from the source's metadata-free served PNG, deterministically from
the check image's id, so any server process serves the same bytes and nothing is stored.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter
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


def degrade_png(served_png: bytes, seed: int) -> bytes:
    """A strong Gaussian blur plus heavy pixel noise: obviously worse to any attentive viewer."""
    image = Image.open(io.BytesIO(served_png)).convert("RGB")
    radius = max(2.0, min(image.size) / 25)
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    noisy = blurred + rng.normal(0.0, 45.0, size=blurred.shape)
    clean = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    clean.save(out, format="PNG", compress_level=6)
    return out.getvalue()
