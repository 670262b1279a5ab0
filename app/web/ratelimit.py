"""In-process sliding-window rate limits (per server process; behind several workers each has one)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from app.errors import RateLimited


class RateLimiter:
    def __init__(self, window_seconds: float = 60.0) -> None:
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, what: str) -> None:
        """Count one request for `key`; RateLimited (429) when `limit` per window is exceeded."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                retry = max(1, int(hits[0] + self.window - now) + 1)
                raise RateLimited(
                    f"too many {what}: at most {limit} per {int(self.window)} s; "
                    f"wait {retry} s and try again",
                    retry_after=retry,
                )
            hits.append(now)
            if len(self._hits) > 100_000:
                # Bound memory: forget keys whose windows have passed.
                for stale in [
                    k for k, v in self._hits.items() if not v or v[-1] <= now - self.window
                ]:
                    del self._hits[stale]
