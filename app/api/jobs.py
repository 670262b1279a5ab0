"""Admin JSON API: the worker job queue."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import IdPath
from app.db import SessionDep
from app.deps.admin import AdminDep
from app.services.compute import jobs as service
from app.services.compute.schemas import JobOut

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("", response_model=list[JobOut])
def list_jobs(
    session: SessionDep,
    _: AdminDep,
    status: str | None = Query(None, pattern="^(queued|running|done|failed)$"),
    kind: str | None = Query(None, max_length=100),
    limit: int = Query(200, ge=1, le=5000),
):
    return service.list_jobs(session, status=status, kind=kind, limit=limit)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: IdPath, session: SessionDep, _: AdminDep):
    return service.get_job(session, job_id)


@router.post("/{job_id}/retry", response_model=JobOut)
def retry_job(job_id: IdPath, session: SessionDep, _: AdminDep):
    """Queue a failed job again with a fresh set of attempts."""
    return service.retry_job(session, service.get_job(session, job_id))
