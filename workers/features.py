"""Job handlers: feature extraction per chunk of images, metrics per generator, and a probe.

A handler takes (context, session), writes through the session without committing, and returns
the job's result; the runner commits it together with the job's completion.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Image
from app.services.features import cached_keys, store_features
from app.services.jobs import EXTRACT_KIND, METRICS_KIND
from workers.extractors import ExtractorUnavailable
from workers.runner import JobContext

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


def compute_metrics(context: JobContext, session: Session) -> dict[str, Any]:
    from workers.metric_job import compute_metrics as run

    return run(context, session)


def probe(context: JobContext, session: Session) -> dict[str, Any]:
    """A no-op job to check that workers claim, heartbeat and finish (`arena jobs probe`).

    Payload: seconds to hold the job (in small steps, honouring shutdown) and an optional log
    file to which it appends "job_id worker" once it finishes.
    """
    seconds = float(context.job.payload.get("seconds", 0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        context.check_stop()
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
    log = context.job.payload.get("log")
    if log:
        with open(Path(log), "a") as handle:
            handle.write(f"{context.job.id} {context.worker.name}\n")
    return {"worker": context.worker.name, "seconds": seconds}


HANDLERS = {EXTRACT_KIND: extract_features, METRICS_KIND: compute_metrics, "probe": probe}
