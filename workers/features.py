"""Feature handling in workers: fill the feature cache for a list of images, and the
extraction job (one chunk of images, one extractor) that does it at upload time."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Image
from app.services.compute.features import cached_keys, store_features
from workers.context import JobContext
from workers.extractors import ExtractorUnavailable

EMBED_BATCH = 32


def ensure_features(
    context: JobContext, session: Session, extractor, keys: list[str]
) -> tuple[int, int]:
    """Embed the images among `keys` (content hashes) that the cache lacks; (computed, cached)."""
    cache_key = f"{extractor.name}:{extractor.version}"
    present = cached_keys(session, cache_key, keys)
    todo = [key for key in dict.fromkeys(keys) if key not in present]
    context.progress(0, len(todo))
    parts = []
    for start in range(0, len(todo), EMBED_BATCH):
        context.check_stop()
        chunk = todo[start : start + EMBED_BATCH]
        paths = [context.media.original_path(sha) for sha in chunk]
        parts.append(extractor.embed_images(paths, batch_size=EMBED_BATCH))
        context.progress(start + len(chunk), len(todo))
    if todo:
        store_features(
            session, context.settings.features_path, cache_key, todo, np.concatenate(parts)
        )
    return len(todo), len(set(keys)) - len(todo)


def extract_features(context: JobContext, session: Session) -> dict[str, Any]:
    """Embed a chunk of images with one extractor; cached (sha256, extractor) pairs are skipped."""
    payload = context.job.payload
    name = payload["extractor"]
    rows = session.execute(
        select(Image.sha256).where(Image.id.in_(payload["image_ids"])).order_by(Image.id)
    ).scalars()
    keys = list(dict.fromkeys(rows))
    try:
        extractor = context.extractor(name)
    except ExtractorUnavailable as exc:
        # Not a failure to retry: the metric will say "unavailable" with this reason.
        return {"extractor": name, "unavailable": exc.reason, "images": len(keys)}
    computed, cached = ensure_features(context, session, extractor, keys)
    return {
        "extractor": f"{extractor.name}:{extractor.version}",
        "computed": computed,
        "cached": cached,
        "dimension": extractor.dimension,
        "preprocessing": extractor.preprocessing,
    }
