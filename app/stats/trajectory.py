"""Ratings as votes arrive, and ratings per prompt category.

A trajectory refits Bradley-Terry with bootstrap intervals on the first n votes (time order) at a
few checkpoints, so a reader sees when the ranking settled and how the intervals narrowed. A
category board is the same fit on the votes of one prompt category; its leader is marked only
where the bootstrap says it beats every other generator of its category at the chosen level
(pairwise_significance), never merely because it has the highest point estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.stats.battles import Battles
from app.stats.bootstrap import CI_LEVEL, BootstrapResult, bootstrap_bradley_terry
from app.stats.bradley_terry import Anchor
from app.stats.exceptions import StatsError

TRAJECTORY_ROUNDS = 200
TRAJECTORY_POINTS = 10


def _subset(battles: Battles, mask: np.ndarray) -> Battles:
    return Battles(
        battles.generators,
        battles.a[mask],
        battles.b[mask],
        battles.outcome[mask],
        battles.both_bad[mask],
    )


def default_checkpoints(n_votes: int, points: int = TRAJECTORY_POINTS) -> list[int]:
    """About `points` vote counts, evenly spaced, ending at all votes."""
    if n_votes <= 0:
        return []
    counts = np.unique(np.linspace(0, n_votes, points + 1)[1:].round().astype(int))
    return [int(c) for c in counts if c > 0]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Ratings and interval bounds after each checkpoint's first n votes (rows = checkpoints)."""

    generators: tuple[str, ...]
    votes: np.ndarray  # checkpoint vote counts
    ratings: np.ndarray  # checkpoints x generators
    ci_low: np.ndarray
    ci_high: np.ndarray
    rounds: int
    seed: int | None
    anchor: Anchor | None = None

    def to_dict(self) -> dict:
        return {
            "anchor": None
            if self.anchor is None
            else {"generator": self.anchor[0], "value": self.anchor[1]},
            "votes": self.votes.tolist(),
            "generators": {
                name: {
                    "rating": self.ratings[:, g].tolist(),
                    "ci_low": self.ci_low[:, g].tolist(),
                    "ci_high": self.ci_high[:, g].tolist(),
                }
                for g, name in enumerate(self.generators)
            },
            "rounds": self.rounds,
            "seed": self.seed,
        }


def rating_trajectory(
    battles: Battles,
    checkpoints: Sequence[int] | None = None,
    *,
    rounds: int = TRAJECTORY_ROUNDS,
    seed: int | None = 0,
    level: float = CI_LEVEL,
    anchor: Anchor | None = None,
) -> Trajectory:
    """Bootstrap Bradley-Terry on the first n votes for each checkpoint n (votes in time order).

    With `anchor` = (generator, value) that generator sits at `value` at every checkpoint (and its
    interval is a point): the others move relative to a fixed reference instead of the mean of
    whoever has been compared so far. Generators not yet compared with the anchor's component are
    centred on their own (see app.stats.bradley_terry.anchor_offset)."""
    n = len(battles)
    points = default_checkpoints(n) if checkpoints is None else sorted(set(checkpoints))
    if not points:
        raise StatsError("no votes: there is no trajectory to draw")
    if points[0] < 1 or points[-1] > n:
        raise StatsError(f"checkpoints must lie between 1 and the {n} votes")
    k = battles.n_generators
    ratings, low, high = (np.empty((len(points), k)) for _ in range(3))
    for row, count in enumerate(points):
        mask = np.zeros(n, dtype=bool)
        mask[:count] = True
        result = bootstrap_bradley_terry(
            _subset(battles, mask), rounds=rounds, seed=seed, level=level, anchor=anchor
        )
        ratings[row], low[row], high[row] = result.ratings, result.ci_low, result.ci_high
    return Trajectory(
        battles.generators, np.asarray(points), ratings, low, high, rounds, seed, anchor
    )


@dataclass(frozen=True, eq=False)
class CategoryBoard:
    """Bootstrap ratings of one prompt category, with its separated leader if there is one."""

    category: str
    n_votes: int
    votes_per_generator: np.ndarray
    result: BootstrapResult
    leader: str | None  # beats every other generator that played in the category, at `level`


def separated_leader(result: BootstrapResult, played: np.ndarray) -> str | None:
    """The generator that significantly beats every other generator that played, else None."""
    candidates = np.flatnonzero(played)
    if candidates.size < 2:
        return None
    for g in candidates:
        others = candidates[candidates != g]
        if np.all(result.beats[g, others]):
            return result.generators[g]
    return None


def category_boards(
    battles: Battles,
    categories: Sequence[str | None],
    *,
    rounds: int = TRAJECTORY_ROUNDS,
    seed: int | None = 0,
    level: float = CI_LEVEL,
    min_votes: int = 1,
) -> list[CategoryBoard]:
    """One board per prompt category (votes whose category is None or empty are left out)."""
    labels = np.asarray(["" if c is None else str(c) for c in categories], dtype=object)
    if labels.shape[0] != len(battles):
        raise StatsError(f"{labels.shape[0]} categories for {len(battles)} votes")
    boards = []
    for category in sorted({c for c in labels.tolist() if c}):
        mask = labels == category
        if mask.sum() < min_votes:
            continue
        subset = _subset(battles, mask)
        result = bootstrap_bradley_terry(subset, rounds=rounds, seed=seed, level=level)
        per_generator = np.bincount(subset.a, minlength=battles.n_generators) + np.bincount(
            subset.b, minlength=battles.n_generators
        )
        boards.append(
            CategoryBoard(
                category,
                int(mask.sum()),
                per_generator,
                result,
                separated_leader(result, per_generator > 0),
            )
        )
    return boards
