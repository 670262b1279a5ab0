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
        item = RateLimitItemPerSecond(limit, self.window)
        try:
            allowed = self._limiter.hit(item, key)
        except Exception:  # an unreachable store must not stop annotators (logged)
            logger.warning("rate-limit storage failed; %s not counted", key, exc_info=True)
            return
        if allowed:
            return
        try:
            reset = self._limiter.get_window_stats(item, key).reset_time
            retry = max(1, math.ceil(reset - time.time()))
        except Exception:  # noqa: BLE001
            retry = self.window
        raise RateLimited(
            f"too many {what}: at most {limit} per {self.window} s; wait {retry} s and try again",
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
