"""Which generator pair an annotator judges next: the one place a sampling policy plugs in.

"uniform" picks uniformly among the study's generator pairs (a pair that has nothing left for
this annotator is dropped from their candidates); the item within the pair is the pair's first
free slot in the study's fixed pseudo-random order (app/services/studies/slots.py).
"active": hands the study's vote tallies to app.stats.active_sampling, which picks the pair whose
outcome most reduces rating uncertainty. The tallies are kept per study in each process and
refreshed incrementally (only votes newer than the last refresh are read), so a choice costs
the same at 200,000 votes as at 20.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Assignment, Study, Vote
from app.models.enums import PairPolicy
from app.services.studies.aspects import primary_votes
from app.services.studies.hot_path import bind_key

# Vote ids are handed out before their transactions commit, so a vote can become visible after
# a newer one: every refresh re-reads this many ids below the newest seen (skipping those
# already counted) to catch such late commits.
LATE_COMMIT_WINDOW = 512


def _count(wins, ties, index, left, right, choice) -> None:
    if left not in index or right not in index:
        return
    i, j = index[left], index[right]
    if choice == "left":
        wins[i, j] += 1
    elif choice == "right":
        wins[j, i] += 1
    elif choice in ("tie", "both_bad"):
        ties[i, j] += 1
        ties[j, i] += 1


def _generator_index(study: Study) -> dict[int, int]:
    return {g.id: k for k, g in enumerate(sorted(study.generators, key=lambda g: g.id))}


def vote_tables(session: Session, study: Study) -> tuple[np.ndarray, np.ndarray]:
    """wins[i, j]: i beat j; ties[i, j] = ties[j, i] (both_bad counts as a tie). Checks left out.

    Indices follow the study's generators ordered by id. Reads every vote (see `Tallies` for
    the incremental copy the policy uses)."""
    index = _generator_index(study)
    n = len(index)
    wins = np.zeros((n, n), dtype=np.int64)
    ties = np.zeros((n, n), dtype=np.int64)
    rows = session.execute(
        select(Assignment.generator_left_id, Assignment.generator_right_id, Vote.choice)
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(
            Assignment.study_id == study.id, Assignment.check_kind.is_(None), primary_votes(study)
        )
    )
    for left, right, choice in rows:
        _count(wins, ties, index, left, right, choice)
    return wins, ties


@dataclass
class Tallies:
    """One study's vote tables in this process, and the votes already counted into them.

    Votes recorded by this process are counted as they are stored (`note_vote`); the others
    are read by `refresh`, which reads only ids above the newest seen less a window."""

    index: dict[int, int]
    wins: np.ndarray
    ties: np.ndarray
    newest: int = 0  # the newest vote id a refresh has read
    counted: set[int] = field(default_factory=set)  # counted ids above newest - window
    refreshed: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, vote_id: int, left, right, choice) -> None:
        if vote_id in self.counted:
            return
        _count(self.wins, self.ties, self.index, left, right, choice)
        if vote_id > self.newest - LATE_COMMIT_WINDOW:
            self.counted.add(vote_id)

    def refresh(self, session: Session, study: Study) -> None:
        study_id = study.id
        floor = max(0, self.newest - LATE_COMMIT_WINDOW)
        rows = session.execute(
            select(
                Vote.id,
                Assignment.generator_left_id,
                Assignment.generator_right_id,
                Vote.choice,
            )
            .join(Assignment, Assignment.id == Vote.assignment_id)
            .where(
                Vote.study_id == study_id,
                Vote.id > floor,
                Assignment.check_kind.is_(None),
                # A study with aspects: the pair policy follows the first aspect's answers.
                primary_votes(study),
            )
        ).all()
        for vote_id, left, right, choice in rows:
            self.add(vote_id, left, right, choice)
            self.newest = max(self.newest, vote_id)
        floor = self.newest - LATE_COMMIT_WINDOW
        self.counted = {v for v in self.counted if v > floor}
        self.refreshed = time.monotonic()


_TALLIES: dict[tuple, Tallies] = {}
_TALLIES_LOCK = threading.Lock()


def tallies(
    session: Session, study: Study, generator_ids: tuple[int, ...] | None = None, max_age: float = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The study's (wins, ties), refreshed with the votes cast since the last refresh when it is
    older than `max_age` seconds (0: always). Copies: the caller may keep them."""
    key = (bind_key(session), study.id, study.created_at)
    with _TALLIES_LOCK:
        state = _TALLIES.get(key)
        if state is None:
            ids = generator_ids or tuple(sorted(g.id for g in study.generators))
            n = len(ids)
            state = Tallies(
                {g: k for k, g in enumerate(ids)},
                np.zeros((n, n), dtype=np.int64),
                np.zeros((n, n), dtype=np.int64),
            )
            _TALLIES[key] = state
    with state.lock:
        if time.monotonic() - state.refreshed >= max_age:
            state.refresh(session, study)
        return state.wins.copy(), state.ties.copy()


def note_vote(
    session: Session, study: Study, vote_id: int, left: int | None, right: int | None, choice
) -> None:
    """Count a vote this process just stored into the study's tallies, if it keeps them."""
    key = (bind_key(session), study.id, study.created_at)
    with _TALLIES_LOCK:
        state = _TALLIES.get(key)
    if state is not None:
        with state.lock:
            state.add(vote_id, left, right, choice)


def clear_tallies() -> None:
    """Forget every study's tallies (tests; or after votes were deleted)."""
    with _TALLIES_LOCK:
        _TALLIES.clear()


def choose_pair(
    session: Session,
    study: Study,
    candidates: list[tuple[int, int]],
    rng: np.random.Generator,
    *,
    generator_ids: tuple[int, ...] | None = None,
    max_age: float = 0,
) -> tuple[int, int]:
    """One of `candidates` (generator index pairs with an open item for this annotator)."""
    if not candidates:
        raise ValueError("choose_pair needs at least one candidate pair")
    if study.pair_policy == PairPolicy.active:
        # Imported here: the numeric core is optional for uniform studies and loads numpy/scipy.
        from app.stats.active_sampling import choose_pair as active_choose_pair

        wins, ties = tallies(session, study, generator_ids, max_age)
        chosen = active_choose_pair(wins, ties, candidates, rng)
        return (int(chosen[0]), int(chosen[1]))
    return candidates[int(rng.integers(len(candidates)))]
