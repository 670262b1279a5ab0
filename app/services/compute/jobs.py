"""Enqueueing and listing worker jobs (claiming and running them lives in workers/)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.models import Generator, Image, Job, ReferenceSet, utcnow
from app.models.enums import JobKind, JobStatus
from app.models.ops import leaderboard_scope, metrics_scope
from app.models.ops import owner_scope as owner_scope  # re-exported: uploads and tests use it

# Extractors run on every uploaded image; metric jobs reduce their cached features.
FEATURE_EXTRACTORS = ("inception-fid", "clip")
EXTRACT_KIND = JobKind.extract_features
METRICS_KIND = JobKind.compute_metrics


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    scope: str | None = None,
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
        scope=scope,
        priority=priority,
        max_attempts=max_attempts,
    )
    session.add(job)
    session.flush()
    return job


def enqueue_extraction(
    session: Session,
    batch_id: int,
    scope: str,
    image_ids: list[int],
    chunk_size: int,
    max_attempts: int,
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
                    scope=scope,
                    priority=1,  # extraction first: metric jobs wait for it anyway
                    max_attempts=max_attempts,
                )
            )
    return jobs


def _fingerprint(session: Session, column, owner_id: int | None) -> str:
    """Changes whenever images are added to an owner, so new uploads get fresh metric jobs."""
    if owner_id is None:
        return "-"
    count, last = session.execute(
        select(func.count(), func.max(Image.id)).where(column == owner_id)
    ).one()
    return f"{owner_id}.{count}.{last}"


def enqueue_metrics(
    session: Session, generator_id: int, reference_set_id: int | None, max_attempts: int
) -> Job:
    """A metrics job for one generator against one reference set (None: reference-free only)."""
    key = f"metrics:g{_fingerprint(session, Image.generator_id, generator_id)}:r{_fingerprint(session, Image.reference_set_id, reference_set_id)}"
    return enqueue(
        session,
        METRICS_KIND,
        {"generator_id": generator_id, "reference_set_id": reference_set_id},
        dedupe_key=key,
        scope=metrics_scope(generator_id, reference_set_id),
        max_attempts=max_attempts,
    )


def enqueue_metrics_after_upload(
    session: Session, generator_id: int | None, reference_set_id: int | None, max_attempts: int
) -> list[Job]:
    """Invalidate what an upload affects: every (generator, reference set) pair it touches."""
    if generator_id is not None:
        references = list(session.scalars(select(ReferenceSet.id).order_by(ReferenceSet.id)))
        pairs = [(generator_id, ref) for ref in references] or [(generator_id, None)]
    else:
        generators = session.scalars(
            select(Generator.id).where(Generator.images.any()).order_by(Generator.id)
        )
        pairs = [(gen, reference_set_id) for gen in generators]
    return [enqueue_metrics(session, gen, ref, max_attempts) for gen, ref in pairs]


def enqueue_leaderboard_recomputation(
    session: Session, study_id: int, options: dict[str, Any], fingerprint: str
) -> Job:
    """A job that recomputes one study's leaderboard for these reader options and stores the
    snapshot; deduplicated on (study, options, fingerprint), so any number of stale views in any
    number of web processes ask for one recomputation."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    return enqueue(
        session,
        JobKind.recompute_leaderboard,
        {"study_id": study_id, "options": options},
        dedupe_key=f"leaderboard:{study_id}:{digest}:{fingerprint}",
        scope=leaderboard_scope(study_id),
        priority=2,  # readers are waiting on it; metrics jobs take minutes anyway
        max_attempts=3,
    )


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


def retry_job(session: Session, job: Job) -> Job:
    """Admin retry of a failed job: queued again with a fresh set of attempts."""
    if job.status != JobStatus.failed:
        raise Conflict(f"job {job.id} is {job.status}; only failed jobs can be retried")
    job.status, job.attempts, job.run_after = JobStatus.queued, 0, utcnow()
    job.finished_at = job.lease_until = None
    session.flush()
    return job
