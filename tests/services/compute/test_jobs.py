"""Job bookkeeping called directly: deduplication, chunked extraction, listing, admin retry."""

from __future__ import annotations

import pytest

from app.errors import Conflict, NotFound
from app.models import Job
from app.services.compute.jobs import (
    EXTRACT_KIND,
    FEATURE_EXTRACTORS,
    enqueue,
    enqueue_extraction,
    get_job,
    list_jobs,
    owner_scope,
    retry_job,
)


def test_a_queued_dedupe_key_returns_the_same_job(session):
    first = enqueue(session, "probe", {"x": 1}, dedupe_key="k")
    second = enqueue(session, "probe", {"x": 2}, dedupe_key="k")
    assert first.id == second.id and session.query(Job).count() == 1
    assert enqueue(session, "probe", {"x": 3}).id != first.id


def test_extraction_is_one_job_per_chunk_per_extractor(session):
    jobs = enqueue_extraction(
        session,
        batch_id=1,
        scope=owner_scope(7, None),
        image_ids=list(range(10)),
        chunk_size=4,
        max_attempts=3,
    )
    assert len(jobs) == 3 * len(FEATURE_EXTRACTORS)
    assert {j.kind for j in jobs} == {EXTRACT_KIND}
    assert all(j.scope == "generator:7" and j.max_attempts == 3 for j in jobs)
    assert owner_scope(None, 4) == "reference_set:4"


def test_listing_filters_and_missing_jobs_are_404(session):
    enqueue(session, "a", {})
    b = enqueue(session, "b", {})
    b.status = "failed"
    session.flush()
    assert [j.kind for j in list_jobs(session, status="failed")] == ["b"]
    assert [j.kind for j in list_jobs(session, kind="a")] == ["a"]
    with pytest.raises(NotFound):
        get_job(session, 10**6)


def test_only_failed_jobs_are_retried_with_fresh_attempts(session):
    job = enqueue(session, "probe", {})
    with pytest.raises(Conflict):
        retry_job(session, job)
    job.status, job.attempts = "failed", 5
    session.flush()
    retry_job(session, job)
    assert (job.status, job.attempts, job.finished_at) == ("queued", 0, None)


def test_job_scopes_are_typed_and_round_trip():
    from app.models.ops import JobScope, ScopeKind

    for scope in (
        JobScope.owner(7, None),
        JobScope.owner(None, 4),
        JobScope.metrics_of(7, 3),
        JobScope.metrics_of(7, None),
        JobScope.leaderboard_of(5),
    ):
        assert JobScope.parse(str(scope)) == scope
    assert str(JobScope.metrics_of(7, None)) == "metrics:7:None"
    assert JobScope.parse("reference_set:4").kind == ScopeKind.reference_set
    for bad in ("gpu:1", "generator:x", "metrics:7", "generator:07", ""):
        with pytest.raises(ValueError, match="not a job scope"):
            JobScope.parse(bad)
