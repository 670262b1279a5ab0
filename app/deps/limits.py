"""Request rate limits through the `limits` library, on storage several processes can share.

Memory (one process, a moving window as before), Redis (ARENA_REDIS_URL; a moving window for
every process) or the database (several processes without Redis; fixed windows).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from redis.exceptions import NoScriptError

from app.errors import RateLimited

logger = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, storage: Storage | None = None, window_seconds: int = 60) -> None:
        self.window = window_seconds
        self.storage = storage or MemoryStorage()
        moving = hasattr(self.storage, "acquire_entry")
        self._limiter = (MovingWindowRateLimiter if moving else FixedWindowRateLimiter)(
            self.storage
        )

    def hit(self, key: str, limit: int, what: str) -> None:
        """Count one request for `key`; RateLimited (429) when `limit` per window is exceeded."""
        self.hit_all((key, limit, what))

    def hit_all(self, *limits: tuple[str, int, str]) -> None:
        """Count one request against each (key, limit, what); RateLimited for the first one
        exceeded. On Redis every count goes in one round trip (the vote path counts two)."""
        items = [
            (key, RateLimitItemPerSecond(limit, self.window), what) for key, limit, what in limits
        ]
        try:
            allowed = self._acquire_together(items)
            if allowed is None:
                allowed = [self._limiter.hit(item, key) for key, item, _what in items]
        except Exception:  # an unreachable store must not stop annotators (logged)
            logger.warning("rate-limit storage failed; %s not counted", limits, exc_info=True)
            return
        for (key, item, what), ok in zip(items, allowed, strict=True):
            if not ok:
                self._refuse(key, item, what)

    def _acquire_together(self, items: list) -> list[bool] | None:
        """The moving-window counts on Redis in one pipeline, each as `limits` counts it (its
        own key and Lua script); None where the storage offers no such thing (then they are
        counted one by one)."""
        storage = self.storage
        script = getattr(storage, "lua_acquire_moving_window", None)
        prefixed = getattr(storage, "prefixed_key", None)
        client = getattr(storage, "storage", None)
        if len(items) < 2 or script is None or prefixed is None or client is None:
            return None
        now = time.time()
        counts = [
            (prefixed(item.key_for(key)), now, item.amount, item.get_expiry(), 1)
            for key, item, _what in items
        ]
        try:
            return self._evalsha(client, script.sha, counts)
        except NoScriptError:  # a restarted Redis: the script is loaded again, once
            client.script_load(script.script)
            return self._evalsha(client, script.sha, counts)

    @staticmethod
    def _evalsha(client, sha: str, counts: list[tuple]) -> list[bool]:
        # EVALSHA by hand: a pipeline of Script calls first asks SCRIPT EXISTS, a round trip.
        pipe = client.pipeline(transaction=False)
        for name, *args in counts:
            pipe.evalsha(sha, 1, name, *args)
        return [bool(acquired) for acquired in pipe.execute()]

    def _refuse(self, key: str, item, what: str) -> None:
        try:
            reset = self._limiter.get_window_stats(item, key).reset_time
            retry = max(1, math.ceil(reset - time.time()))
        except Exception:  # noqa: BLE001
            retry = self.window
        raise RateLimited(
            f"too many {what}: at most {item.amount} per {self.window} s; wait {retry} s and "
            "try again",
            retry_after=retry,
        )


async def rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter (app.state, built in create_app). A test that forgets every count sets
    it to None; the next request builds a fresh one, under the app's lock."""
    state = request.app.state
    limiter = state.rate_limiter
    if limiter is None:
        with state.rate_limiter_lock:
            if state.rate_limiter is None:
                state.rate_limiter = RateLimiter()
            limiter = state.rate_limiter
    return limiter


LimiterDep = Annotated[RateLimiter, Depends(rate_limiter)]
