"""Enqueueing and listing worker jobs (claiming and running them lives in workers/)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import Job

# Extractors run on every uploaded image; metric jobs reduce their cached features.
FEATURE_EXTRACTORS = ("inception-fid", "clip")
EXTRACT_KIND = "extract_features"


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    priority: int = 0,
    max_attempts: int = 5,
) -> Job:
    """Add a job; with a dedupe_key that is already queued or running, return that job instead."""
    if dedupe_key is not None:
        existing = session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload,
        dedupe_key=dedupe_key,
        priority=priority,
        max_attempts=max_attempts,
    )
    session.add(job)
    session.flush()
    return job


def enqueue_extraction(
    session: Session, batch_id: int, image_ids: list[int], chunk_size: int, max_attempts: int
) -> list[Job]:
    """One job per chunk of images per extractor, so many workers share one upload."""
    jobs = []
    for extractor in FEATURE_EXTRACTORS:
        for start in range(0, len(image_ids), chunk_size):
            chunk = image_ids[start : start + chunk_size]
            jobs.append(
                enqueue(
                    session,
                    EXTRACT_KIND,
                    {"extractor": extractor, "batch_id": batch_id, "image_ids": chunk},
                    dedupe_key=f"extract:{extractor}:batch:{batch_id}:{start}",
                    max_attempts=max_attempts,
                )
            )
    return jobs


def list_jobs(
    session: Session, *, status: str | None = None, kind: str | None = None, limit: int = 200
) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    if kind:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query))


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job
