"""The garbage collector of a serving web process (`ARENA_GC_TUNING`, on under `arena serve`).

Measured under benchmarks/vote_load.py (64 annotators, a study of 86,655 items): CPython's
defaults spent about a fifth of a web process's CPU in the cyclic collector, and each full
collection walked every cached item of every study pool (about 0.2 s, the worst response
times). So a serving process collects its youngest generation less often (a request allocates
thousands of short-lived objects; collected every 700 allocations, some of a request still in
flight move up to the generations that cost more), and takes long-lived data — what start-up
made, a study pool just built — out of the collector's scans (`gc.freeze`). Frozen objects are
still freed by reference counting; only a reference cycle among them would stay, so what is
unreachable is collected first. Off in tests and scripts: a frozen test app would outlive its
test.
"""

from __future__ import annotations

import gc
import threading

YOUNG_THRESHOLD = 10_000

_enabled = False
_lock = threading.Lock()


def tune_for_serving() -> None:
    """At a web process's start: the young generation's threshold, and start-up frozen."""
    global _enabled
    _enabled = True
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    settle()


def settle() -> None:
    """A large, long-lived structure was just built: collect what is unreachable, then keep
    everything alive now out of later collections (a no-op unless tuned for serving)."""
    if not _enabled:
        return
    with _lock:
        gc.collect()
        gc.freeze()
