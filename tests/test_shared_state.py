"""Rate limits and cache invalidations shared by several server processes (Redis or database)."""

from __future__ import annotations

import os
import time
import uuid

import httpx
import pytest

from app.db import make_engine
from app.deps.limits import RateLimiter
from app.errors import RateLimited
from app.leaderboard.cache import LeaderboardCache
from app.shared_state import DatabaseStorage, Invalidations, rate_limit_storage
from tests.support.humaneval import seed_study
from tests.support.served import serve_processes

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (scripts/test.sh starts it)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["redis", "database"])
def test_the_invite_rate_limit_holds_across_two_server_processes(
    settings, request, storage, tmp_path
):
    env = {
        "ARENA_DATABASE_URL": settings.database_url,
        "ARENA_MEDIA_DIR": str(settings.media_dir),
        "ARENA_SECRET_KEY": "two-processes",
        "ARENA_INVITE_RATE_PER_IP": "6",
        "ARENA_RATE_LIMIT_STORAGE": storage,
        # A prefix of its own: other test runs may share the Redis server.
        "ARENA_REDIS_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    if storage == "redis":
        env["ARENA_REDIS_URL"] = request.getfixturevalue("redis_url")
    with serve_processes(env, 2) as (first, second):
        statuses = [
            httpx.get(f"{url}/invite/not-a-token", timeout=10).status_code
            for url in (first, second) * 5
        ]
    # Six openings in all are allowed (403: the token is unknown), then every process refuses.
    assert statuses == [403] * 6 + [429] * 4, statuses


def test_without_shared_storage_each_process_counts_alone(settings):
    """What the shared storages fix: two memory limiters let twice the limit through."""
    one, two = RateLimiter(), RateLimiter()
    for limiter in (one, two):
        for _ in range(3):
            limiter.hit("ip", 3, "requests")
    with pytest.raises(RateLimited, match="at most 3 per 60 s"):
        one.hit("ip", 3, "requests")


def test_database_counters_are_shared_and_windows_restart(settings):
    engine = make_engine(settings)
    first, second = RateLimiter(DatabaseStorage(engine)), RateLimiter(DatabaseStorage(engine), 1)
    first.hit("k", 2, "requests")
    first.hit("k", 2, "requests")
    with pytest.raises(RateLimited) as refused:
        RateLimiter(DatabaseStorage(engine)).hit("k", 2, "requests")
    assert 1 <= refused.value.extra["retry_after"] <= 60
    # A one-second window on another key expires and opens again.
    second.hit("short", 1, "requests")
    with pytest.raises(RateLimited):
        second.hit("short", 1, "requests")
    import time

    time.sleep(1.1)
    second.hit("short", 1, "requests")
    engine.dispose()


def test_storage_choice(settings):
    engine = make_engine(settings)
    assert type(rate_limit_storage(settings, engine)).__name__ == "MemoryStorage"
    chosen = settings.model_copy(update={"rate_limit_storage": "database"})
    assert isinstance(rate_limit_storage(chosen, engine), DatabaseStorage)
    with pytest.raises(ValueError, match="ARENA_REDIS_URL"):
        rate_limit_storage(settings.model_copy(update={"rate_limit_storage": "redis"}), engine)
    engine.dispose()


def test_a_vote_elsewhere_invalidates_a_cached_leaderboard_at_once(arena, redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    here, there = Invalidations(redis_url, prefix), Invalidations(redis_url, prefix)
    cache = LeaderboardCache(debounce_seconds=3600, invalidations=here)
    with arena.session_factory() as session:
        study = seed_study(session, name="inv", generators=2, prompts=2)
        session.commit()
        first = cache.get(session, study)
        assert cache.get(session, study) is first  # within the debounce: the cached board
        from app.models import Generator

        # Another process changes what the board shows and bumps the study's version.
        session.get(Generator, study.generators[0].id).sampler = "euler"
        session.commit()
        there.bump(f"leaderboard:{study.id}")
        assert cache.get(session, study) is not first
        # Without a shared version this process would keep the old board for the debounce.
        local = LeaderboardCache(debounce_seconds=3600, invalidations=Invalidations())
        board = local.get(session, study)
        session.get(Generator, study.generators[0].id).sampler = "ddim"
        session.commit()
        there.bump(f"leaderboard:{study.id}")
        assert local.get(session, study) is board


def test_votes_bumps_are_coalesced_and_reach_other_processes_soon(redis_url):
    """The vote path marks the board and a thread sends the marks of 50 ms in one round trip:
    this process reads its own bumps at once, another within that time."""
    prefix = f"test-{uuid.uuid4().hex}"
    here, there = Invalidations(redis_url, prefix), Invalidations(redis_url, prefix)
    scope = "leaderboard:1"
    before = there.version(scope)
    for _ in range(200):
        here.bump_soon(scope)
    deadline = time.monotonic() + 5
    while there.version(scope) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    sent = there.version(scope) - before
    assert 1 <= sent < 200  # seen elsewhere, in far fewer round trips than bumps
    here.bump_soon(scope)
    assert here.version(scope) == before + sent + 1  # this process: at once


def test_coalesced_bumps_stay_in_the_process_when_redis_is_down():
    down = Invalidations("redis://127.0.0.1:1/0", coalesce_seconds=0)
    down.bump_soon("leaderboard:1")
    down.flush()
    assert down.version("leaderboard:1") == 1


@pytest.mark.parametrize("storage", ["redis", "memory", "database"])
def test_several_limits_count_as_one_by_one_in_one_round_trip_on_redis(storage, settings, request):
    """hit_all counts each key as hit does (the same counters: a key counted by either is
    refused by both), refuses with the first limit exceeded, and on Redis sends every count in
    one round trip."""
    if storage == "redis":
        url = request.getfixturevalue("redis_url")
        chosen = settings.model_copy(
            update={
                "rate_limit_storage": "redis",
                "redis_url": url,
                "redis_prefix": uuid.uuid4().hex,
            }
        )
    else:
        chosen = settings.model_copy(update={"rate_limit_storage": storage})
    engine = make_engine(chosen)
    try:
        limiter = RateLimiter(rate_limit_storage(chosen, engine))
        round_trips = []
        client = getattr(limiter.storage, "storage", None)
        ip, annotator = ("ip", 3, "answers from this address"), ("annotator", 2, "answers")
        if storage == "redis":
            client.script_flush()  # as after a Redis restart: the script is loaded again
            limiter.hit_all(("first", 5, "answers"), ("second", 5, "answers"))
            real = client.pipeline
            client.pipeline = lambda **kw: round_trips.append(kw) or real(**kw)
            asked = _script_exists_calls(client)
        limiter.hit_all(ip, annotator)
        limiter.hit("annotator", 2, "answers")  # the same counter as hit_all's
        with pytest.raises(RateLimited) as refused:
            limiter.hit_all(ip, annotator)
        assert "at most 2 per 60 s" in str(refused.value)  # the annotator's, though both count
        limiter.hit_all(ip, ("other", 5, "answers"))  # the address's 3rd of 3
        with pytest.raises(RateLimited) as refused:
            limiter.hit_all(ip, ("other", 5, "answers"))
        assert "at most 3 per 60 s" in str(refused.value)  # its 4th
        if storage == "redis":
            assert len(round_trips) == 4  # one per hit_all, none for the single hit
            assert _script_exists_calls(client) == asked  # no SCRIPT EXISTS before each
    finally:
        engine.dispose()


def _script_exists_calls(client) -> int:
    stats = client.info("commandstats")
    return stats.get("cmdstat_script|exists", {}).get("calls", 0)
