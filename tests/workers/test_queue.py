"""Queue semantics on SQLite and PostgreSQL: claim, lease, heartbeat, retry, backoff, release."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import make_engine, make_session_factory
from app.models import Job, utcnow
from app.services.compute.jobs import enqueue
from workers import queue
from workers.runner import Deferred, Worker


@pytest.fixture
def factory(settings):
    engine = make_engine(settings)
    yield make_session_factory(engine)
    engine.dispose()


def add_jobs(factory, n, kind="probe", **fields):
    with factory() as session:
        ids = [enqueue(session, kind, {"i": i}, **fields).id for i in range(n)]
        session.commit()
    return ids


def test_claim_takes_each_job_once_by_priority(factory):
    low = add_jobs(factory, 2)
    high = add_jobs(factory, 1, priority=5)
    claimed = [queue.claim(factory, "w1", 60) for _ in range(4)]
    assert [j.id for j in claimed[:3]] == high + low
    assert claimed[3] is None
    assert all(j.status == "running" and j.attempts == 1 and j.worker == "w1" for j in claimed[:3])


def test_expired_lease_is_reclaimed_and_counted(factory):
    [job_id] = add_jobs(factory, 1)
    first = queue.claim(factory, "dead-worker", 60)
    assert queue.claim(factory, "w2", 60) is None  # leased
    with factory() as session:
        session.execute(update(Job).values(lease_until=utcnow() - timedelta(seconds=1)))
        session.commit()
    second = queue.claim(factory, "w2", 60)
    assert second.id == first.id == job_id and second.attempts == 2 and second.worker == "w2"
    with pytest.raises(queue.LeaseLost):
        queue.heartbeat(factory, job_id, "dead-worker", 60)
    with factory() as session, pytest.raises(queue.LeaseLost):
        queue.complete(session, job_id, "dead-worker", {})


def test_exhausted_job_with_expired_lease_fails(factory):
    [job_id] = add_jobs(factory, 1, max_attempts=1)
    queue.claim(factory, "w1", 60)
    with factory() as session:
        session.execute(update(Job).values(lease_until=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert queue.claim(factory, "w2", 60) is None
    with factory() as session:
        job = session.get(Job, job_id)
        assert job.status == "failed" and "lease expired" in job.error


def test_failures_back_off_then_fail_for_good(factory):
    [job_id] = add_jobs(factory, 1, max_attempts=2)
    queue.claim(factory, "w", 60)
    assert queue.fail(factory, job_id, "w", "boom 1") == "queued"
    with factory() as session:
        job = session.get(Job, job_id)
        assert job.run_after > utcnow() + timedelta(seconds=3) and job.error == "boom 1"
    assert queue.claim(factory, "w", 60) is None  # still backing off
    with factory() as session:
        session.execute(update(Job).values(run_after=utcnow()))
        session.commit()
    queue.claim(factory, "w", 60)
    assert queue.fail(factory, job_id, "w", "boom 2") == "failed"
    assert [queue.backoff_seconds(n) for n in (1, 2, 3, 20)] == [5, 10, 20, 600]


def test_heartbeat_records_progress_and_extends_the_lease(factory):
    [job_id] = add_jobs(factory, 1)
    job = queue.claim(factory, "w", 5)
    queue.heartbeat(factory, job_id, "w", 300, done=3, total=10)
    with factory() as session:
        fresh = session.get(Job, job_id)
        assert (fresh.progress_done, fresh.progress_total) == (3, 10)
        assert fresh.lease_until > job.lease_until


def test_release_does_not_count_an_attempt(factory):
    [job_id] = add_jobs(factory, 1)
    queue.claim(factory, "w", 60)
    queue.release(factory, job_id, "w")
    again = queue.claim(factory, "w2", 60)
    assert again.id == job_id and again.attempts == 1


def test_worker_runs_handlers_and_records_failures(settings, factory, tmp_path):
    add_jobs(factory, 3)
    add_jobs(factory, 1, kind="no-such-kind", max_attempts=1)
    worker = Worker(settings, once=True, session_factory=factory, poll_seconds=0.05)
    assert worker.run() == 3
    with factory() as session:
        statuses = {j.kind: j.status for j in session.scalars(select(Job))}
        bad = session.scalar(select(Job).where(Job.kind == "no-such-kind"))
    assert statuses == {"probe": "done", "no-such-kind": "failed"}
    assert "no handler for job kind" in bad.error


def test_deferred_job_is_released_with_a_delay(settings, factory):
    [job_id] = add_jobs(factory, 1, kind="waits")
    worker = Worker(settings, session_factory=factory)

    def waits(context, session):
        raise Deferred("inputs not ready", seconds=30)

    worker.handlers = {"waits": waits}
    job = queue.claim(factory, worker.name, 60)
    assert worker.run_job(job) == "deferred"
    with factory() as session:
        fresh = session.get(Job, job_id)
        assert fresh.status == "queued" and fresh.attempts == 0
        assert fresh.run_after > utcnow() + timedelta(seconds=20)


def test_retry_through_the_api(arena):
    with arena.session_factory() as session:
        job = enqueue(session, "probe", {}, max_attempts=1)
        job.status, job.error = "failed", "x"
        session.commit()
        job_id = job.id
    done = arena.client.post(f"/api/jobs/{job_id}/retry", headers=arena.headers)
    assert done.status_code == 200 and done.json()["status"] == "queued"
    again = arena.client.post(f"/api/jobs/{job_id}/retry", headers=arena.headers)
    assert again.status_code == 409 and "only failed jobs" in again.json()["detail"]


def test_a_once_worker_for_some_kinds_does_not_wait_for_the_others(settings, factory):
    add_jobs(factory, 2)
    add_jobs(factory, 1, kind="other")  # queued, never taken by this worker
    worker = Worker(
        settings, once=True, kinds=["probe"], session_factory=factory, poll_seconds=0.05
    )
    assert worker.run() == 2  # returned: it used to wait for "other" forever
    with factory() as session:
        assert queue.has_pending(session) and queue.has_pending(session, ["other"])
        assert not queue.has_pending(session, ["probe"])
