"""The durable job queue: atomic claims, renewable leases, retries with backoff.

A claim is one UPDATE ... RETURNING: on PostgreSQL its subquery takes the row FOR UPDATE SKIP
LOCKED so concurrent workers never wait on or double-claim a job; on SQLite the single UPDATE is
atomic because SQLite serialises writers. A job whose lease expired (its worker died) becomes
claimable again; every claim counts an attempt, so a job that kills its worker is not retried
forever.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.models import Job, utcnow
from app.models.enums import PENDING_STATUSES, JobStatus

BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 600


class LeaseLost(RuntimeError):
    """Another worker owns the job now (our lease expired); stop working on it."""


def backoff_seconds(attempts: int) -> int:
    """Exponential backoff after a failed attempt: 5 s, 10 s, 20 s … capped at 10 minutes."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


def _claimable(now):
    return or_(
        and_(Job.status == JobStatus.queued, Job.run_after <= now),
        and_(
            Job.status == JobStatus.running, Job.lease_until < now, Job.attempts < Job.max_attempts
        ),
    )


def fail_exhausted(session: Session) -> int:
    """Fail running jobs whose lease expired on their last allowed attempt."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(
            Job.status == JobStatus.running, Job.lease_until < now, Job.attempts >= Job.max_attempts
        )
        .values(
            status=JobStatus.failed,
            finished_at=now,
            lease_until=None,
            error="lease expired on the last attempt: the worker died or hung",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(
    factory: sessionmaker[Session], worker: str, lease_seconds: int, kinds: list[str] | None = None
) -> Job | None:
    """Atomically take the next claimable job (highest priority, oldest first), or None."""
    with factory() as session:
        fail_exhausted(session)
        now = utcnow()
        candidate = select(Job.id).where(_claimable(now))
        if kinds:
            candidate = candidate.where(Job.kind.in_(kinds))
        candidate = candidate.order_by(Job.priority.desc(), Job.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        job_id = session.execute(
            update(Job)
            .where(Job.id == candidate.scalar_subquery(), _claimable(now))
            .values(
                status=JobStatus.running,
                attempts=Job.attempts + 1,
                worker=worker,
                lease_until=now + timedelta(seconds=lease_seconds),
                started_at=now,
                finished_at=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        session.commit()
        return session.get(Job, job_id) if job_id is not None else None


def _owned(job_id: int, worker: str):
    return and_(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.running)


def heartbeat(
    factory: sessionmaker[Session],
    job_id: int,
    worker: str,
    lease_seconds: int,
    done: int | None = None,
    total: int | None = None,
) -> None:
    """Renew the lease and record progress; LeaseLost if the job is no longer ours."""
    values: dict = {"lease_until": utcnow() + timedelta(seconds=lease_seconds)}
    if done is not None:
        values["progress_done"] = done
    if total is not None:
        values["progress_total"] = total
    with factory() as session:
        result = session.execute(update(Job).where(_owned(job_id, worker)).values(**values))
        session.commit()
    if result.rowcount == 0:
        raise LeaseLost(f"job {job_id} is no longer held by {worker}")


def complete(
    session: Session,
    job_id: int,
    worker: str,
    result: dict,
    progress: tuple[int, int] | None = None,
) -> None:
    """Mark done inside the caller's transaction, so results and completion commit together;
    `progress` (done, total) is written with it."""
    values: dict = {
        "status": JobStatus.done,
        "result": result,
        "finished_at": utcnow(),
        "lease_until": None,
        "error": None,
    }
    if progress is not None:
        values["progress_done"], values["progress_total"] = progress
    outcome = session.execute(
        update(Job)
        .where(_owned(job_id, worker))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if outcome.rowcount == 0:
        raise LeaseLost(f"job {job_id} is no longer held by {worker}")


def fail(factory: sessionmaker[Session], job_id: int, worker: str, error: str) -> str:
    """Record a failed attempt: requeue with backoff, or fail for good after max_attempts."""
    with factory() as session:
        job = session.get(Job, job_id)
        if job is None or job.worker != worker or job.status != JobStatus.running:
            return "lost"
        now = utcnow()
        job.error = error[-4000:]
        job.lease_until = None
        if job.attempts >= job.max_attempts:
            job.status, job.finished_at = JobStatus.failed, now
        else:
            job.status = JobStatus.queued
            job.run_after = now + timedelta(seconds=backoff_seconds(job.attempts))
        session.commit()
        return job.status


def release(factory: sessionmaker[Session], job_id: int, worker: str, delay: float = 0) -> None:
    """Give a job back without counting the attempt (shutdown, or waiting on its inputs)."""
    with factory() as session:
        session.execute(
            update(Job)
            .where(_owned(job_id, worker))
            .values(
                status=JobStatus.queued,
                attempts=Job.attempts - 1,
                lease_until=None,
                run_after=utcnow() + timedelta(seconds=delay),
            )
        )
        session.commit()


def has_pending(session: Session, kinds: list[str] | None = None) -> bool:
    """Whether any job (of these kinds) is queued or running (what `arena worker --once`
    waits for: a worker that takes only some kinds never waits for the others)."""
    pending = select(Job.id).where(Job.status.in_(PENDING_STATUSES))
    if kinds:
        pending = pending.where(Job.kind.in_(kinds))
    return session.scalar(pending.limit(1)) is not None
