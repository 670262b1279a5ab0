"""A stale leaderboard is recomputed by a worker, not by the web process: views ask for one
deduplicated queue job, keep serving the stored board marked updating, and pick up the worker's
snapshot; without any worker, the grace period brings the board back in the web process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.leaderboard import cache as leaderboard_cache
from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from app.models import Job, Study
from app.models.enums import JobKind
from app.services.compute.jobs import enqueue_leaderboard_recomputation
from tests.support.leaderboard_seed import cast_votes, seed_leaderboard_study
from workers.runner import run_until_idle


@pytest.fixture
def study_id(arena) -> int:
    with arena.session_factory() as session:
        result = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        return result.study.id


def _cache(arena, **kwargs) -> LeaderboardCache:
    return LeaderboardCache(
        debounce_seconds=0,
        session_factory=arena.session_factory,
        request_recomputation=enqueue_leaderboard_recomputation,
        **kwargs,
    )


def _more_votes(arena, study_id: int) -> None:
    with arena.session_factory() as session:
        study = session.get(Study, study_id)
        study.raters_per_item = 4  # room for a newly invited annotator's votes
        cast_votes(session, study, seed=11, careful=1, lazy=0)
        session.commit()


def _recompute_jobs(arena) -> list[Job]:
    with arena.session_factory() as session:
        return list(session.scalars(select(Job).where(Job.kind == JobKind.recompute_leaderboard)))


def test_a_worker_recomputes_and_views_read_its_snapshot(arena, study_id, monkeypatch):
    url = f"/api/studies/{study_id}/leaderboard"
    arena.app.state.leaderboard_cache = _cache(arena)
    first = arena.client.get(url, headers=arena.headers).json()
    assert first["updating"] is False and _recompute_jobs(arena) == []
    _more_votes(arena, study_id)

    def refuse(*_args, **_kwargs):
        raise AssertionError("the web process recomputed the leaderboard")

    monkeypatch.setattr(leaderboard_cache, "build_leaderboard", refuse)
    monkeypatch.setattr(leaderboard_cache, "recompute_snapshot", refuse)
    stale = arena.client.get(url, headers=arena.headers).json()
    again = arena.client.get(url, headers=arena.headers).json()
    # A second web process behind the same database asks for the same job.
    other = _cache(arena)
    with arena.session_factory() as session:
        assert other.get(session, session.get(Study, study_id)).updating is True
    assert stale["updating"] is again["updating"] is True
    assert stale["fingerprint"] == again["fingerprint"] == first["fingerprint"]
    jobs = _recompute_jobs(arena)
    assert len(jobs) == 1 and jobs[0].status == "queued"
    assert jobs[0].payload["study_id"] == study_id

    # This job only (the seed's feature extractions, real Inception on the CPU, are not this
    # test's business and took a minute).
    run_until_idle(arena.settings, kinds=[JobKind.recompute_leaderboard])
    fresh = arena.client.get(url, headers=arena.headers).json()
    assert fresh["updating"] is False and fresh["fingerprint"] != first["fingerprint"]
    assert fresh["votes"]["total"] > first["votes"]["total"]
    [done] = _recompute_jobs(arena)
    assert done.status == "done" and done.result["fingerprint"] == fresh["fingerprint"]


def test_without_a_worker_the_grace_period_recomputes_in_the_web_process(arena, study_id):
    url = f"/api/studies/{study_id}/leaderboard"
    arena.app.state.leaderboard_cache = _cache(arena, worker_grace_seconds=0)
    first = arena.client.get(url, headers=arena.headers).json()
    _more_votes(arena, study_id)
    stale = arena.client.get(url, headers=arena.headers).json()
    assert stale["updating"] is True
    fresh = arena.client.get(url, headers=arena.headers).json()
    assert fresh["updating"] is False and fresh["votes"]["total"] > first["votes"]["total"]
