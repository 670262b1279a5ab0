"""Separation in Bradley-Terry data: when the maximum-likelihood ratings do not exist.

The Bradley-Terry MLE exists (is finite) exactly when, within each connected part of the
comparison graph, the directed graph "x scored against y" (x won or tied at least one vote
against y) is strongly connected (Zermelo 1929; Ford 1957, Amer. Math. Monthly 64:28). Otherwise
a group of generators never lost a vote to the rest (or never won one), the likelihood keeps
growing as that group's ratings move apart from the others, and a fitted value only reflects
where the optimiser (or its ridge) stopped.

Here the strongly connected groups of each connected part are ordered by "beat every time":
a group that nobody outside beat (a source) is unbounded above, a group that beat nobody outside
(a sink) is unbounded below, and a group in between is unbounded either way (with the ratings
centred on their mean, where it ends up depends on the others). With a generator anchored at a
fixed value, its group stays finite: groups that beat it are unbounded above, groups it beat
below, unrelated ones either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

FINITE, UP, DOWN, EITHER = 0, 1, -1, 2


@dataclass(frozen=True)
class Separation:
    """Per generator: the direction its rating is unbounded in (FINITE, UP, DOWN or EITHER), and
    for separated generators the opponents it beat (or lost to) every time."""

    direction: np.ndarray
    never_lost_to: tuple[tuple[int, ...], ...]  # opponents outside its group it never lost to
    never_beat: tuple[tuple[int, ...], ...]  # opponents outside its group it never scored against

    @property
    def separated(self) -> bool:
        return bool(np.any(self.direction != FINITE))


def _reach(adjacency: np.ndarray) -> np.ndarray:
    """Transitive closure of a small boolean adjacency matrix (groups x groups)."""
    reach = adjacency.copy()
    for k in range(reach.shape[0]):
        reach |= reach[:, [k]] & reach[[k], :]
    return reach


def separation(
    n_generators: int,
    i: np.ndarray,
    j: np.ndarray,
    score_i: np.ndarray,
    votes: np.ndarray,
    anchor_index: int | None = None,
) -> Separation:
    """Separation of one table of unordered pairs (score of i = wins + ties/2; see module doc)."""
    k = n_generators
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    score_i = np.asarray(score_i, dtype=np.float64)
    votes = np.asarray(votes, dtype=np.float64)
    met = votes > 0
    i, j, score_i, votes = i[met], j[met], score_i[met], votes[met]
    # scored[x, y]: x won or tied at least once against y.
    scored = np.zeros((k, k), dtype=bool)
    scored[i, j] = score_i > 0
    scored[j, i] = score_i < votes
    compared = np.zeros((k, k), dtype=bool)
    compared[i, j] = compared[j, i] = True
    direction = np.full(k, FINITE, dtype=np.int64)
    empty: tuple[tuple[int, ...], ...] = tuple(() for _ in range(k))
    if k == 0 or np.array_equal(scored, compared):
        # Every compared pair went both ways: strong and weak connectivity coincide.
        return Separation(direction, empty, empty)
    n_parts, part = connected_components(csr_matrix(compared), directed=False)
    # Edge y -> x when x scored against y; strongly connected groups of that graph.
    n_groups, group = connected_components(csr_matrix(scored.T), directed=True, connection="strong")
    if n_groups == n_parts:
        return Separation(direction, empty, empty)
    # beat[g, h]: some member of g beat a member of h in every vote (different groups only).
    beat = np.zeros((n_groups, n_groups), dtype=bool)
    one_way = compared & scored & ~scored.T
    xs, ys = np.nonzero(one_way)
    beat[group[xs], group[ys]] = True
    reach = _reach(beat)
    never_lost: list[tuple[int, ...]] = []
    never_beat: list[tuple[int, ...]] = []
    for x in range(k):
        never_lost.append(tuple(int(y) for y in np.flatnonzero(one_way[x])))
        never_beat.append(tuple(int(y) for y in np.flatnonzero(one_way[:, x])))
    for p in np.unique(part):
        members = np.flatnonzero(part == p)
        groups = np.unique(group[members])
        if groups.size < 2:
            continue
        if anchor_index is not None and part[anchor_index] == p:
            a = group[anchor_index]
            for g in groups:
                if g == a:
                    continue
                above, below = reach[g, a], reach[a, g]
                direction[group == g] = UP if above else DOWN if below else EITHER
            continue
        for g in groups:
            beaten_by_someone = beat[:, g].any()
            beats_someone = beat[g, :].any()
            direction[group == g] = (
                UP if not beaten_by_someone else DOWN if not beats_someone else EITHER
            )
    return Separation(direction, tuple(never_lost), tuple(never_beat))


def separated_rounds(
    n_generators: int,
    i: np.ndarray,
    j: np.ndarray,
    score: np.ndarray,
    votes: np.ndarray,
    anchor_index: int | None = None,
) -> np.ndarray:
    """Direction codes (rounds x generators) of bootstrap rounds (score, votes: rounds x pairs).

    Only rounds where some compared pair went one way are examined; in the others every rating
    is finite whenever the point estimate's graph is connected the same way.
    """
    out = np.zeros((score.shape[0], n_generators), dtype=np.int64)
    one_sided = ((score <= 0) | (score >= votes)) & (votes > 0)
    candidates = np.flatnonzero(one_sided.any(axis=1))
    for start in range(0, candidates.size, _CHUNK):
        rounds = candidates[start : start + _CHUNK]
        suspect = rounds[~_strongly_connected(n_generators, i, j, score[rounds], votes[rounds])]
        for r in suspect:
            out[r] = separation(n_generators, i, j, score[r], votes[r], anchor_index).direction
    return out


_CHUNK = 256


def _reached(adjacency: np.ndarray) -> np.ndarray:
    """Per round, the generators reachable from generator 0 (rounds x k booleans)."""
    reached = np.zeros(adjacency.shape[:2], dtype=np.float32)
    reached[:, 0] = 1.0
    for _ in range(adjacency.shape[1]):
        grown = np.minimum(reached + np.einsum("rk,rkl->rl", reached, adjacency), 1.0)
        grown = (grown > 0).astype(np.float32)
        if np.array_equal(grown, reached):
            break
        reached = grown
    return reached > 0


def _strongly_connected(k: int, i, j, score, votes) -> np.ndarray:
    """Per round: every generator reaches every other along "scored against" edges both ways.
    A fast sufficient test for no separation, vectorised over rounds (breadth-first search as
    batched matrix products); rounds that fail it get the exact analysis."""
    scored = np.zeros((score.shape[0], k, k), dtype=np.float32)
    scored[:, i, j] = score > 0
    scored[:, j, i] = (score < votes) & (votes > 0)
    forward = _reached(scored).all(axis=1)
    backward = _reached(np.swapaxes(scored, 1, 2)).all(axis=1)
    return forward & backward


def unbounded_bounds(directions: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower unbounded, upper unbounded) per generator: a percentile bound is infinite when
    more than (1 - level) / 2 of the rounds send the rating to that infinity."""
    q = (1.0 - level) / 2.0
    rounds = max(directions.shape[0], 1)
    up = np.isin(directions, (UP, EITHER)).sum(axis=0) / rounds
    down = np.isin(directions, (DOWN, EITHER)).sum(axis=0) / rounds
    return down > q, up > q
