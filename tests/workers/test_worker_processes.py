"""Real worker processes against PostgreSQL: many drain a queue exactly once; a SIGKILLed worker's
job is re-claimed after its lease and finished by another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.models import Job
from app.services.compute.jobs import enqueue

pytestmark = pytest.mark.postgres


def worker_process(settings, *args: str, lease: int = 60) -> subprocess.Popen:
    env = {
        **os.environ,
        "ARENA_DATABASE_URL": settings.database_url,
        "ARENA_MEDIA_DIR": str(settings.media_dir),
        "ARENA_SECRET_KEY": "x",
        "ARENA_JOB_LEASE_SECONDS": str(lease),
    }
    code = "from app.cli.main import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, "worker", *args], env=env)


def wait_until_running(factory, job_id: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as session:
            if session.get(Job, job_id).status == "running":
                return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} was not claimed within {timeout} s")


@pytest.fixture
def pg_settings(settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("multi-process claims are a PostgreSQL scenario")
    return settings


@pytest.fixture(params=["postgresql"])
def database_url(request, tmp_path):
    url = request.getfixturevalue("_postgres_schema")
    from tests.conftest import _truncate_all

    _truncate_all(url)
    return url


def test_four_workers_drain_200_jobs_exactly_once(pg_settings, tmp_path):
    log = tmp_path / "runs.log"
    engine = create_engine(pg_settings.database_url)
    factory = sessionmaker(engine)
    with factory() as session:
        for i in range(200):
            enqueue(session, "probe", {"seconds": 0.01, "log": str(log), "i": i})
        session.commit()
    workers = [worker_process(pg_settings, "--once") for _ in range(4)]
    for proc in workers:
        assert proc.wait(timeout=240) == 0
    lines = log.read_text().split()
    job_ids = Counter(lines[0::2])
    assert len(job_ids) == 200 and set(job_ids.values()) == {1}
    assert len(set(lines[1::2])) >= 2, "the work should be shared between processes"
    with factory() as session:
        jobs = session.scalars(select(Job)).all()
        assert {j.status for j in jobs} == {"done"} and {j.attempts for j in jobs} == {1}
    engine.dispose()


def test_sigkilled_worker_job_is_reclaimed_after_the_lease(pg_settings, tmp_path):
    log = tmp_path / "runs.log"
    engine = create_engine(pg_settings.database_url)
    factory = sessionmaker(engine)
    with factory() as session:
        job_id = enqueue(session, "probe", {"seconds": 4, "log": str(log)}).id
        session.commit()
    doomed = worker_process(pg_settings, lease=2)
    wait_until_running(factory, job_id)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    with factory() as session:
        assert session.get(Job, job_id).status == "running"  # orphaned, lease still ticking
    rescuer = worker_process(pg_settings, "--once", lease=2)
    assert rescuer.wait(timeout=120) == 0
    with factory() as session:
        job = session.get(Job, job_id)
        assert job.status == "done" and job.attempts == 2
        assert job.result["worker"] == job.worker  # finished by the rescuer
    assert len(log.read_text().splitlines()) == 1  # the killed run never finished
    engine.dispose()


def test_sigterm_releases_the_current_job(pg_settings, tmp_path):
    engine = create_engine(pg_settings.database_url)
    factory = sessionmaker(engine)
    with factory() as session:
        job_id = enqueue(session, "probe", {"seconds": 30}).id
        session.commit()
    proc = worker_process(pg_settings)
    wait_until_running(factory, job_id)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    with factory() as session:
        job = session.get(Job, job_id)
        assert job.status == "queued" and job.attempts == 0 and job.lease_until is None
    engine.dispose()
