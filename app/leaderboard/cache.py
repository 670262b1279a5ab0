"""Leaderboards served without recomputing them on every view.

Ratings and correlations are recomputed when what they depend on changes (the fingerprint: votes,
exclusion flags, metric results, pending jobs, the study's and generators' settings), never per
page view. A computed leaderboard is kept in process memory and in the database
(leaderboard_snapshots), so a restarted process, or a second one behind the same database, serves
the last board at once. A stale board is recomputed by a worker (the deduplicated
recompute_leaderboard queue job): the web process serves the stored board marked `updating` and
picks up the worker's snapshot on a later view. It computes a board itself only when none is
stored yet, without a queue (the CLI, tests), or when no worker has answered for
`worker_grace_seconds`.
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
from app.leaderboard.snapshots import (
    options_payload,
    read_snapshot,
    recompute_snapshot,
    stored_fingerprint,
    write_snapshot,
)
from app.models import Study
from app.observability import LEADERBOARD_RECOMPUTATIONS
from app.shared_state import Invalidations

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 3.0
# A web process recomputes a stale board itself when no worker has done it within this time.
WORKER_GRACE_SECONDS = 60.0
# (session, study id, reader options as JSON, current fingerprint): enqueue the recomputation.
RequestRecomputation = Callable[[Session, int, dict, str], object]


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
    cached leaderboard; changed, a recomputation. With a `session_factory` the recomputation is
    requested (`request_recomputation`: a queue job, one per fingerprint however many processes
    ask) and views keep getting the previous leaderboard, marked `updating`, until the stored
    snapshot changes (stale-while-revalidate): a stream of votes never makes a reader wait, and
    the web process does not compute. Without one (the CLI, tests) it recomputes in the request.
    One lock per key: concurrent first views compute once. A key missing from memory is looked
    up in the database snapshots before anything is computed.
    """

    def __init__(
        self,
        debounce_seconds: float = DEBOUNCE_SECONDS,
        max_entries: int = 64,
        session_factory: Callable[[], Session] | None = None,
        invalidations: Invalidations | None = None,
        request_recomputation: RequestRecomputation | None = None,
        worker_grace_seconds: float = WORKER_GRACE_SECONDS,
    ) -> None:
        self.debounce_seconds = debounce_seconds
        # A vote in any process bumps the study's version: the debounce is skipped at once.
        self.invalidations = invalidations
        self.max_entries = max_entries
        self.session_factory = session_factory
        self._entries: dict[tuple, _Entry] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()
        self.request_recomputation = request_recomputation
        self.worker_grace_seconds = worker_grace_seconds
        # Stale keys whose recomputation was requested: (study id, options, version, when).
        self._requested: dict[tuple, tuple[int, LeaderboardOptions, int, float]] = {}

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

    def _request(self, study_id: int, options: LeaderboardOptions, current: str) -> None:
        """Ask a worker for the recomputation, in a short transaction of its own (a reader's
        request writes nothing). A failure is logged: the grace period still brings a board."""
        if self.request_recomputation is None:
            return
        try:
            with self.session_factory() as session:
                self.request_recomputation(session, study_id, options_payload(options), current)
                session.commit()
        except Exception:
            logger.exception("requesting the leaderboard of study %s failed", study_id)

    def _refresh(
        self, key: tuple, study_id: int, options: LeaderboardOptions, version: int = 0
    ) -> None:
        """Recompute in this process (what the queue job does) and keep the result."""
        try:
            with self.session_factory() as session:
                leaderboard = recompute_snapshot(session, study_id, options)
                session.commit()
                if leaderboard is not None:
                    self._store(key, leaderboard, version=version)
                    self._requested.pop(key, None)
                    return
        except Exception:
            # Logged, not raised: the next view after the debounce interval tries again; until
            # then the previous leaderboard stays in place.
            logger.exception("recomputing the leaderboard of study %s failed", study_id)
        self._requested.pop(key, None)
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None:
                entry.refreshing = False
                entry.leaderboard.updating = False
                entry.checked_at = time.monotonic()

    def _replaced(
        self, session: Session, key: tuple, entry: _Entry, options: LeaderboardOptions
    ) -> Leaderboard | None:
        """The worker's new snapshot, once the stored one differs from the board held here."""
        study_id = key[0]
        stored = stored_fingerprint(session, study_id, options)
        if stored is None or stored == entry.fingerprint:
            return None
        board = read_snapshot(session, study_id, options)
        if board is None:
            return None
        self._requested.pop(key, None)
        self._store(key, board, version=entry.version)
        return board

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
                if entry.refreshing:
                    return self._while_refreshing(session, key, entry, options, fresh)
                if fresh and entry.version == version:
                    return entry.leaderboard
                current = fingerprint(session, study, [g.id for g in study.generators])
                if current == entry.fingerprint:
                    entry.checked_at, entry.version = time.monotonic(), version
                    return entry.leaderboard
                if self.session_factory is not None:
                    entry.refreshing = True
                    entry.leaderboard.updating = True
                    entry.checked_at, entry.version = time.monotonic(), version
                    self._requested[key] = (study.id, options, version, time.monotonic())
                    self._request(study.id, options, current)
                    return entry.leaderboard
            LEADERBOARD_RECOMPUTATIONS.inc()
            leaderboard = build_leaderboard(session, study, options)
            self._store(key, leaderboard, version=version)
            self._persist(session, study.id, options, leaderboard)
            return leaderboard

    def _while_refreshing(
        self,
        session: Session,
        key: tuple,
        entry: _Entry,
        options: LeaderboardOptions,
        fresh: bool,
    ) -> Leaderboard:
        """A stale board is being recomputed elsewhere: serve it, or the snapshot that replaced
        it; when no worker answered within the grace period, recompute here."""
        if fresh:
            return entry.leaderboard
        entry.checked_at = time.monotonic()
        replaced = self._replaced(session, key, entry, options)
        if replaced is not None:
            return replaced
        requested = self._requested.get(key)
        if requested is not None and time.monotonic() - requested[3] > self.worker_grace_seconds:
            logger.warning(
                "no worker recomputed the leaderboard of study %s within %.0f s: computing it "
                "in the web process (is `arena worker` running?)",
                key[0],
                self.worker_grace_seconds,
            )
            self._refresh(key, *requested[:3])
            current = self._entries.get(key)
            if current is not None:
                return current.leaderboard
        return entry.leaderboard

    def wait(self, timeout: float = 60.0) -> None:
        """Do the recomputations this process requested that no worker has done yet, here and
        now (tests and benchmarks, which run no worker). `timeout` is kept for callers."""
        for key, (study_id, options, version, _) in list(self._requested.items()):
            self._refresh(key, study_id, options, version)

    def clear(self) -> None:
        """Forget the leaderboards held in memory (the database snapshots stay)."""
        with self._guard:
            self._entries.clear()
