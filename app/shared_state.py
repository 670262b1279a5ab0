"""State that several web processes must share: rate-limit counters and cache invalidations.

With ARENA_REDIS_URL both live in Redis. Without it one process keeps them in memory, as a
single process always did; several processes (`arena serve --workers N`) count rate limits in
the database (rate_limit_counters) and notice each other's changes through the database
fingerprints the caches already compare, after their debounce interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import ClassVar

from limits.storage import MemoryStorage, Storage, storage_from_string
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.models import RateLimitCounter, utcnow
from app.settings import Settings

logger = logging.getLogger(__name__)


class DatabaseStorage(Storage):
    """A `limits` storage on the application database: fixed windows, one row per key.

    Each hit is one short transaction of its own (a refused request still counts, whatever the
    request's own transaction does).
    """

    STORAGE_SCHEME: ClassVar[list[str]] = ["arena-database"]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    @property
    def base_exceptions(self):
        return (IntegrityError,)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        table = RateLimitCounter.__table__
        for _attempt in range(3):
            now = utcnow()
            try:
                with self.engine.begin() as conn:
                    hits = conn.execute(
                        update(table)
                        .where(table.c.key == key, table.c.expires_at > now)
                        .values(hits=table.c.hits + amount)
                        .returning(table.c.hits)
                    ).scalar()
                    if hits is not None:
                        return hits
                    # No live window: restart an expired one, or open the first.
                    restarted = conn.execute(
                        update(table)
                        .where(table.c.key == key, table.c.expires_at <= now)
                        .values(hits=amount, expires_at=now + timedelta(seconds=expiry))
                    ).rowcount
                    if not restarted:
                        conn.execute(
                            insert(table).values(
                                key=key, hits=amount, expires_at=now + timedelta(seconds=expiry)
                            )
                        )
                    return amount
            except IntegrityError:
                continue  # another process opened the window first: count in theirs
        raise RuntimeError(f"could not count a hit for rate limit {key!r}")

    def _row(self, key: str):
        table = RateLimitCounter.__table__
        with self.engine.connect() as conn:
            return conn.execute(
                select(table.c.hits, table.c.expires_at).where(
                    table.c.key == key, table.c.expires_at > utcnow()
                )
            ).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.hits if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at.timestamp() if row else utcnow().timestamp()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(delete(RateLimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        table = RateLimitCounter.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == key))


def rate_limit_storage(settings: Settings, engine: Engine) -> Storage:
    kind = settings.rate_limit_storage
    if kind == "auto":
        kind = "redis" if settings.redis_url else "memory"
    if kind == "redis":
        if not settings.redis_url:
            raise ValueError("ARENA_RATE_LIMIT_STORAGE=redis needs ARENA_REDIS_URL")
        return storage_from_string(settings.redis_url, key_prefix=f"{settings.redis_prefix}:limits")
    if kind == "database":
        return DatabaseStorage(engine)
    return MemoryStorage()


class Invalidations:
    """Version counters per scope ("leaderboard:7"): a writer bumps, caches compare.

    In Redis every process sees a bump at once; without Redis only this process does (the others
    notice the change through the database fingerprint after their debounce interval).

    `bump_soon` is the vote path's bump: the scope is marked and a thread of this process sends
    the marks of the last `coalesce_seconds` in one round trip, so other processes see a vote
    within about that time (a Redis INCR per vote was 3 % of the server's CPU per vote). This
    process reads its own marks at once (`version` sends them first); marks not yet sent when
    the process dies are noticed through the database fingerprint, as without Redis.
    """

    def __init__(
        self, redis_url: str | None = None, prefix: str = "arena", coalesce_seconds: float = 0.05
    ) -> None:
        self._local: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._prefix = f"{prefix}:version:"
        self._redis = None
        self._coalesce = coalesce_seconds
        self._marked: set[str] = set()
        self._wake = threading.Event()
        self._sender: threading.Thread | None = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=1.0)

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def bump(self, scope: str) -> None:
        if self._redis is not None:
            try:
                self._redis.incr(self._prefix + scope)
                return
            except Exception:  # noqa: BLE001 - Redis down: the database fingerprint still works
                logger.warning("Redis unreachable: invalidation of %s stays in this process", scope)
        with self._lock:
            self._local[scope] += 1

    def bump_soon(self, scope: str) -> None:
        """Bump `scope` within `coalesce_seconds`, with every other bump of that time."""
        if self._redis is None:
            self.bump(scope)
            return
        with self._lock:
            self._marked.add(scope)
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_marks, name="invalidations", daemon=True
                )
                self._sender.start()
        if not self._wake.is_set():
            self._wake.set()

    def flush(self) -> None:
        """Send the marks now (before a read in this process, and at shutdown)."""
        with self._lock:
            marked, self._marked = self._marked, set()
            self._wake.clear()
        if not marked:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for scope in marked:
                pipe.incr(self._prefix + scope)
            pipe.execute()
        except Exception:  # noqa: BLE001 - as bump: the database fingerprint still works
            logger.warning("Redis unreachable: invalidations stay in this process")
            with self._lock:
                for scope in marked:
                    self._local[scope] += 1

    def _send_marks(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self._coalesce)  # gather the bumps of that time into one round trip
            self.flush()

    def version(self, scope: str) -> int:
        if self._redis is not None:
            if self._marked:
                self.flush()
            try:
                return int(self._redis.get(self._prefix + scope) or 0)
            except Exception:  # noqa: BLE001
                logger.warning("Redis unreachable: reading the version of %s locally", scope)
        with self._lock:
            return self._local[scope]
