"""Leaderboards served without recomputing them on every view.

Ratings and correlations are recomputed when what they depend on changes (the fingerprint: votes,
exclusion flags, metric results, pending jobs, the study's and generators' settings), at most
once per debounce interval, never per page view. A computed leaderboard is kept in process
memory and in the database (leaderboard_snapshots), so a restarted process, or a second one
behind the same database, serves the last board at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.leaderboard.board import (
    Leaderboard,
    LeaderboardOptions,
    build_leaderboard,
    fingerprint,
)
from app.leaderboard.snapshots import read_snapshot, write_snapshot
from app.models import Study
from app.observability import LEADERBOARD_RECOMPUTATIONS
from app.shared_state import Invalidations

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 3.0


@dataclass
class _Entry:
    leaderboard: Leaderboard
    fingerprint: str
    checked_at: float
    refreshing: bool = False
    # The study's invalidation version when this board was checked (see app/shared_state.py).
    version: int = 0


class LeaderboardCache:
    """Computed leaderboards in process memory, keyed by study and options.

    A view within `debounce_seconds` of the last check gets the cached leaderboard as it is.
    Later, a view computes the fingerprint (a few indexed aggregate queries): unchanged, the
    cached leaderboard; changed, a recomputation. With a `session_factory` the recomputation
    runs in a background thread and views keep getting the previous leaderboard, marked
    `updating`, until the new one is ready (stale-while-revalidate): a stream of votes never
    makes a reader wait, and costs one recomputation at a time per study. Without one (the CLI,
    tests) it recomputes in the request. One lock per key: concurrent first views compute once.
    A key missing from memory is looked up in the database snapshots before anything is computed.
    """

    def __init__(
        self,
        debounce_seconds: float = DEBOUNCE_SECONDS,
        max_entries: int = 64,
        session_factory: Callable[[], Session] | None = None,
        invalidations: Invalidations | None = None,
    ) -> None:
        self.debounce_seconds = debounce_seconds
        # A vote in any process bumps the study's version: the debounce is skipped at once.
        self.invalidations = invalidations
        self.max_entries = max_entries
        self.session_factory = session_factory
        self._entries: dict[tuple, _Entry] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _lock_for(self, key: tuple) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _store(
        self,
        key: tuple,
        leaderboard: Leaderboard,
        checked_at: float | None = None,
        version: int = 0,
    ) -> _Entry:
        with self._guard:
            if len(self._entries) >= self.max_entries and key not in self._entries:
                oldest = min(self._entries, key=lambda k: self._entries[k].checked_at)
                del self._entries[oldest]
            entry = _Entry(
                leaderboard,
                leaderboard.fingerprint,
                time.monotonic() if checked_at is None else checked_at,
                version=version,
            )
            self._entries[key] = entry
            return entry

    def _persist(
        self, session: Session, study_id: int, options: LeaderboardOptions, board: Leaderboard
    ) -> None:
        """Store the snapshot in `session`'s transaction (a request's commits before it responds;
        a second session could wait on the request's own SQLite write lock). A failure costs a
        recomputation later, never the view."""
        try:
            write_snapshot(session, study_id, options, board)
        except Exception:
            logger.exception("storing the leaderboard snapshot of study %s failed", study_id)

    def _version(self, study_id: int) -> int:
        if self.invalidations is None:
            return 0
        return self.invalidations.version(f"leaderboard:{study_id}")

    def _refresh(
        self, key: tuple, study_id: int, options: LeaderboardOptions, version: int = 0
    ) -> None:
        try:
            with self.session_factory() as session:
                study = session.get(Study, study_id)
                if study is not None:
                    LEADERBOARD_RECOMPUTATIONS.inc()
                    leaderboard = build_leaderboard(session, study, options)
                    self._store(key, leaderboard, version=version)
                    self._persist(session, study_id, options, leaderboard)
                    session.commit()
                    return
        except Exception:
            # Logged, not raised: nobody awaits this thread. The next view after the debounce
            # interval tries again; until then the previous leaderboard stays in place.
            logger.exception("recomputing the leaderboard of study %s failed", study_id)
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None:
                entry.refreshing = False
                entry.leaderboard.updating = False
                entry.checked_at = time.monotonic()

    def get(
        self,
        session: Session,
        study: Study,
        options: LeaderboardOptions = LeaderboardOptions(),
    ) -> Leaderboard:
        key = (study.id, options)
        version = self._version(study.id)
        with self._lock_for(key):
            entry = self._entries.get(key)
            if entry is None:
                stored = read_snapshot(session, study.id, options)
                if stored is not None:
                    # Never checked in this process: compare fingerprints now.
                    entry = self._store(key, stored, checked_at=-math.inf)
            if entry is not None:
                fresh = time.monotonic() - entry.checked_at < self.debounce_seconds
                if entry.refreshing or (fresh and entry.version == version):
                    return entry.leaderboard
                current = fingerprint(session, study, [g.id for g in study.generators])
                if current == entry.fingerprint:
                    entry.checked_at, entry.version = time.monotonic(), version
                    return entry.leaderboard
                if self.session_factory is not None:
                    entry.refreshing = True
                    entry.leaderboard.updating = True
                    thread = threading.Thread(
                        target=self._refresh,
                        args=(key, study.id, options, version),
                        name=f"leaderboard-{study.id}",
                        daemon=True,
                    )
                    self._threads = [t for t in self._threads if t.is_alive()] + [thread]
                    thread.start()
                    return entry.leaderboard
            LEADERBOARD_RECOMPUTATIONS.inc()
            leaderboard = build_leaderboard(session, study, options)
            self._store(key, leaderboard, version=version)
            self._persist(session, study.id, options, leaderboard)
            return leaderboard

    def wait(self, timeout: float = 60.0) -> None:
        """Block until background recomputations finish (tests and benchmarks)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def clear(self) -> None:
        """Forget the leaderboards held in memory (the database snapshots stay)."""
        with self._guard:
            self._entries.clear()
