"""Bootstrap confidence intervals for Bradley-Terry ratings (Efron & Tibshirani 1993, ch. 13).

The recipe is Chatbot Arena's compute_bootstrap_bt (FastChat): the log is reduced to its unique
(a, b, outcome) rows, and each round draws their counts from a multinomial with n = number of
votes and p = observed shares, which is the same distribution as resampling raw votes with
replacement but costs O(unique rows) instead of O(votes).

Two samplers, both drawn from numpy.random.default_rng(seed):
  resample="rows"  FastChat's exact call, rng.multinomial(n, count/n, size=rounds) over the unique
                   rows; with seed 0 it reproduces compute_bootstrap_bt's resamples draw for draw.
  resample="pairs" (default) the same distribution, drawn in two stages: a multinomial over
                   unordered pairs, then per pair the split into (wins of the lower index, ties,
                   wins of the other) by two binomials. A multinomial aggregated over groups is
                   multinomial, and given the group totals the split within each group is
                   multinomial with the within-group shares, so the law of the (score, votes) per
                   pair that the fit sees is identical; it is ~4x faster because numpy's
                   multinomial cost grows faster than linearly with the number of categories, and
                   the fit ignores which side each generator sat on.

Each round is refitted by Newton's
method warm-started at the point estimate, all rounds at once (vectorised over rounds). Intervals
are percentile intervals, as in FastChat (quantiles with linear interpolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.stats.battles import Battles, UniqueOutcomes, unique_outcomes
from app.stats.bradley_terry import (
    BT_MAX_ITER,
    BT_RIDGE,
    BT_TOL,
    Anchor,
    _newton,
    anchor_offset,
    component_groups,
    fit_bradley_terry,
    graph_warnings,
    resolve_anchor,
)
from app.stats.elo import ELO_BASE, ELO_INITIAL, ELO_SCALE
from app.stats.exceptions import StatsError
from app.stats.separation import (
    DOWN,
    EITHER,
    UP,
    Separation,
    separated_rounds,
    separation,
    unbounded_bounds,
)

BOOTSTRAP_ROUNDS = 1000
CI_LEVEL = 0.95
# Rounds solved together: bounds the (rounds x generators x generators) Hessian stack to ~32 MB.
_MAX_STACK = 4_000_000
RESAMPLERS = ("pairs", "rows")


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Point estimate, bootstrap samples and percentile CIs of anchored Bradley-Terry ratings."""

    generators: tuple[str, ...]
    ratings: np.ndarray  # point estimate (anchored)
    samples: np.ndarray  # rounds x generators (anchored per round, as FastChat's scale_and_offset)
    ci_low: np.ndarray
    ci_high: np.ndarray
    median: np.ndarray
    rank: np.ndarray  # 1 + number of generators whose lower bound exceeds this upper bound
    rank_worst: np.ndarray  # n - number of generators whose upper bound is below this lower bound
    beats: np.ndarray  # beats[i, j]: the (1-level)/2 quantile of r_i - r_j over rounds is > 0
    components: np.ndarray
    rounds: int
    seed: int | None
    level: float
    resample: str
    anchor: Anchor | None
    n_votes: int
    converged_rounds: int
    warnings: tuple[str, ...]
    # Separation (app.stats.separation): the point data's, and bounds that are infinite because
    # more than (1 - level) / 2 of the rounds had no finite maximum-likelihood rating.
    separation: Separation | None = None
    unbounded_low: np.ndarray | None = None
    unbounded_high: np.ndarray | None = None
    separated_rounds: int = 0

    def separation_notes(self) -> dict[str, str]:
        """Per separated generator, what the data show and which bound is not finite."""
        notes: dict[str, str] = {}
        sep = self.separation
        for k, name in enumerate(self.generators):
            parts = []
            if sep is not None and sep.direction[k] != 0:
                lost = [self.generators[x] for x in sep.never_lost_to[k]]
                beat = [self.generators[x] for x in sep.never_beat[k]]
                if sep.direction[k] in (UP, EITHER) and lost:
                    parts.append(f"never lost a vote to {', '.join(lost)}")
                if sep.direction[k] in (DOWN, EITHER) and beat:
                    parts.append(f"never won or tied a vote against {', '.join(beat)}")
            low = self.unbounded_low is not None and bool(self.unbounded_low[k])
            high = self.unbounded_high is not None and bool(self.unbounded_high[k])
            if low or high:
                side = "both bounds" if low and high else "upper bound" if high else "lower bound"
                parts.append(
                    f"no finite {side} of the {self.level:.0%} interval: in "
                    f"{self.separated_rounds} of {self.rounds} bootstrap rounds the data were "
                    "separated, so the fitted value there only shows where the optimiser stopped"
                )
            if parts:
                notes[str(name)] = "; ".join(parts)
        return notes

    def index(self, name: str) -> int:
        return self.generators.index(name)

    def to_dict(self) -> dict:
        def per(values):
            return {g: float(v) for g, v in zip(self.generators, values)}

        return {
            "ratings": per(self.ratings),
            "ci_low": per(self.ci_low),
            "ci_high": per(self.ci_high),
            "median": per(self.median),
            "rank": {g: int(v) for g, v in zip(self.generators, self.rank)},
            "rank_worst": {g: int(v) for g, v in zip(self.generators, self.rank_worst)},
            "beats": {
                g: [h for h, b in zip(self.generators, row) if b]
                for g, row in zip(self.generators, self.beats)
            },
            "components": [list(c) for c in component_groups(self.generators, self.components)],
            "bootstrap": {
                "rounds": self.rounds,
                "seed": self.seed,
                "level": self.level,
                "method": "percentile",
                "resample": self.resample,
            },
            "anchor": None
            if self.anchor is None
            else {"generator": self.anchor[0], "value": self.anchor[1]},
            "n_votes": self.n_votes,
            "converged_rounds": self.converged_rounds,
            "separated_rounds": self.separated_rounds,
            "unbounded": {
                g: {"low": bool(lo), "high": bool(hi)}
                for g, lo, hi in zip(
                    self.generators,
                    self.unbounded_low if self.unbounded_low is not None else [],
                    self.unbounded_high if self.unbounded_high is not None else [],
                )
                if lo or hi
            },
            "separation": self.separation_notes(),
            "warnings": list(self.warnings),
        }


def rank_from_intervals(
    ci_low: np.ndarray, ci_high: np.ndarray, components: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best and worst rank consistent with the intervals (Chatbot Arena's rank = 1 + #{j: lo_j > hi_i}),
    counting only generators in the same connected component."""
    same = components[:, None] == components[None, :]
    above = same & (ci_low[None, :] > ci_high[:, None])
    below = same & (ci_high[None, :] < ci_low[:, None])
    best = 1 + above.sum(axis=1)
    worst = same.sum(axis=1) - below.sum(axis=1)
    return best.astype(np.int64), worst.astype(np.int64)


def pairwise_significance(
    samples: np.ndarray, components: np.ndarray, level: float = CI_LEVEL
) -> np.ndarray:
    """beats[i, j] when the lower (1-level)/2 quantile of the bootstrap differences r_i - r_j is > 0."""
    k = samples.shape[1]
    beats = np.zeros((k, k), dtype=bool)
    q = (1.0 - level) / 2.0
    for i in range(k):
        lower = np.quantile(samples[:, [i]] - samples, q, axis=0)
        beats[i] = lower > 0
    beats &= components[:, None] == components[None, :]
    np.fill_diagonal(beats, False)
    return beats


def bootstrap_bradley_terry_counts(
    unique: UniqueOutcomes,
    generators: tuple[str, ...],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    anchor: Anchor | None = None,
    level: float = CI_LEVEL,
    resample: str = "pairs",
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    initial: float = ELO_INITIAL,
    ridge: float = BT_RIDGE,
    tol: float = BT_TOL,
    max_iter: int = BT_MAX_ITER,
) -> BootstrapResult:
    """Multinomial bootstrap over unique (a, b, outcome) counts (FastChat compute_bootstrap_bt).

    `rng` overrides `seed`; with the same seed the samples are identical bit for bit.
    """
    if rounds < 1:
        raise StatsError("rounds must be at least 1")
    if not 0 < level < 1:
        raise StatsError("level must be in (0, 1)")
    if resample not in RESAMPLERS:
        raise StatsError(f"resample must be one of {RESAMPLERS}")
    k = len(generators)
    anchor_index = resolve_anchor(generators, anchor)
    wins_a, wins_b, ties = unique.pair_totals()
    point = fit_bradley_terry(
        k,
        unique.a,
        unique.b,
        wins_a,
        wins_b,
        ties,
        scale=scale,
        base=base,
        initial=initial,
        ridge=ridge,
    )
    n_votes = int(unique.count.sum())
    generator = rng if rng is not None else np.random.default_rng(seed)

    table = point.pairs
    point_separation = (
        separation(k, table.i, table.j, table.score_i, table.votes, anchor_index) if k else None
    )
    directions = np.zeros((rounds, k), dtype=np.int64)
    if n_votes == 0 or k == 0:
        theta = np.broadcast_to(point.theta, (rounds, k)).copy()
        converged = rounds
    else:
        table = point.pairs
        if resample == "rows":
            counts = generator.multinomial(n_votes, unique.count / n_votes, size=rounds)
            score, votes = _rows_to_pairs(unique, counts)
        else:
            score, votes = _resample_pairs(unique, table, n_votes, rounds, generator)
        theta, converged = _solve_rounds(
            table.i, table.j, score, votes, point.theta, math.log(base), ridge, tol, max_iter
        )
        directions = separated_rounds(k, table.i, table.j, score, votes, anchor_index)

    samples = scale * theta + initial
    ratings = point.ratings
    if anchor_index is not None:
        value = float(anchor[1])
        samples = anchor_offset(samples, point.components, anchor_index, value)
        ratings = anchor_offset(ratings, point.components, anchor_index, value)
    q = (1.0 - level) / 2.0
    ci_low, median, ci_high = (
        np.quantile(samples, [q, 0.5, 1.0 - q], axis=0) if k else (np.zeros(0),) * 3
    )
    unbounded_low, unbounded_high = unbounded_bounds(directions, level)
    ci_low = np.where(unbounded_low, -np.inf, ci_low)
    ci_high = np.where(unbounded_high, np.inf, ci_high)
    rank, rank_worst = rank_from_intervals(ci_low, ci_high, point.components)
    warnings = list(graph_warnings(generators, point.components, n_votes))
    n_separated = int(np.any(directions != 0, axis=1).sum()) if k else 0
    if point_separation is not None and point_separation.separated:
        warnings.append(
            "perfect separation: some generators never lost (or never won) a vote against "
            "others, so their Bradley-Terry ratings have no finite maximum-likelihood value; "
            "the affected intervals are shown as unbounded"
        )
    elif unbounded_low.any() or unbounded_high.any():
        warnings.append(
            f"near separation: {n_separated} of {rounds} bootstrap rounds had no finite "
            "maximum-likelihood ratings; the affected interval bounds are shown as unbounded"
        )
    if converged < rounds:
        warnings.append(
            f"{rounds - converged} of {rounds} bootstrap rounds did not converge in {max_iter} Newton steps"
        )
    return BootstrapResult(
        generators=tuple(generators),
        ratings=ratings,
        samples=samples,
        ci_low=ci_low,
        ci_high=ci_high,
        median=median,
        rank=rank,
        rank_worst=rank_worst,
        beats=pairwise_significance(samples, point.components, level)
        if k
        else np.zeros((0, 0), dtype=bool),
        components=point.components,
        rounds=rounds,
        seed=seed if rng is None else None,
        level=level,
        resample=resample,
        anchor=None if anchor is None else (anchor[0], float(anchor[1])),
        n_votes=n_votes,
        converged_rounds=converged,
        warnings=tuple(warnings),
        separation=point_separation,
        unbounded_low=unbounded_low,
        unbounded_high=unbounded_high,
        separated_rounds=n_separated,
    )


def _lower_index_score(unique: UniqueOutcomes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unique row: its unordered pair key, the lower-indexed generator's score per vote, and
    whether the row is a tie."""
    k = unique.n_generators
    lo, hi = np.minimum(unique.a, unique.b), np.maximum(unique.a, unique.b)
    lo_won = (unique.outcome == 2) == (unique.a == lo)
    tie = unique.outcome == 1
    return lo * k + hi, np.where(tie, 0.5, np.where(lo_won, 1.0, 0.0)), tie


def _rows_to_pairs(unique: UniqueOutcomes, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resampled row counts (rounds x rows) to (score of lower index, votes) per pair, pairs in
    ascending key order as in PairTable."""
    key, per_vote, _ = _lower_index_score(unique)
    _, pair_of_row = np.unique(key, return_inverse=True)
    order = np.argsort(pair_of_row, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(pair_of_row[order]) != 0])
    c = counts[:, order].astype(np.float64)
    return np.add.reduceat(c * per_vote[order], starts, axis=1), np.add.reduceat(c, starts, axis=1)


def _resample_pairs(unique, table, n_votes: int, rounds: int, rng: np.random.Generator):
    """Two-stage multinomial: votes per pair, then (lower-index wins, ties) within each pair."""
    key, per_vote, tie = _lower_index_score(unique)
    keys = table.i * unique.n_generators + table.j
    pair_of_row = np.searchsorted(keys, key)
    wins_lo = np.bincount(
        pair_of_row, weights=unique.count * (per_vote == 1.0), minlength=keys.size
    )
    ties = np.bincount(pair_of_row, weights=unique.count * tie, minlength=keys.size)
    votes = table.votes
    p_win = wins_lo / votes
    # P(tie | not a win of the lower index); 0/0 when the lower index won every vote of the pair.
    rest = votes - wins_lo
    p_tie = np.divide(ties, rest, out=np.zeros_like(ties), where=rest > 0)
    n = rng.multinomial(n_votes, votes / n_votes, size=rounds)
    w = rng.binomial(n, p_win)
    t = rng.binomial(n - w, p_tie)
    return w + 0.5 * t, n.astype(np.float64)


def _solve_rounds(i, j, score, votes, theta0, alpha, ridge, tol, max_iter):
    """Batched Newton over rounds, warm-started at the point estimate, in memory-bounded chunks."""
    k = theta0.size
    theta = np.empty((score.shape[0], k))
    converged = 0
    chunk = max(1, _MAX_STACK // (k * k))
    for start in range(0, score.shape[0], chunk):
        s, n = score[start : start + chunk], votes[start : start + chunk]
        init = np.broadcast_to(theta0, (s.shape[0], k))
        th, _, conv = _newton(init, i, j, s, n, alpha, ridge, tol, max_iter)
        theta[start : start + chunk] = th
        converged += int(conv.sum())
    return theta, converged


def bootstrap_bradley_terry(
    battles: Battles,
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    anchor: Anchor | None = None,
    level: float = CI_LEVEL,
    resample: str = "pairs",
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    initial: float = ELO_INITIAL,
    ridge: float = BT_RIDGE,
) -> BootstrapResult:
    """Bootstrap CIs, CI-based ranks and pairwise significance of Bradley-Terry ratings of a battle log."""
    return bootstrap_bradley_terry_counts(
        unique_outcomes(battles),
        battles.generators,
        rounds=rounds,
        seed=seed,
        rng=rng,
        anchor=anchor,
        level=level,
        resample=resample,
        scale=scale,
        base=base,
        initial=initial,
        ridge=ridge,
    )
