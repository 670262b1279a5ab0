"""Seeded simulation of a pairwise study: how many votes uniform vs active pair sampling need.

Outcome model (per vote, generator a on the left, b on the right): the expected score of the left
side is s = 1 / (1 + 10^(-(R_a - R_b + left_bias) / 400)); a tie (either kind) happens with
probability 4 tie_rate s (1 - s), i.e. `tie_rate` for an even pair and rarely for a lopsided one,
and the left side wins with probability s - P(tie) / 2. A tie counts half a win, so the expected
score of a vote is exactly the Bradley-Terry probability (plus the side effect), which is the
model the app's ties-as-half-wins fit assumes; sides are randomised per vote as the assignment
code does, so the left bias only adds noise.

Criteria, checked on a geometric grid of vote counts with the app's own Bradley-Terry fit:
Kendall tau between fitted and true ratings, and the mean width of the 95% Wald intervals with a
sandwich (Huber-White) covariance H^+ J H^+, J = sum over votes of the squared score residuals.
The sandwich is what a bootstrap over votes estimates; the plain inverse Hessian would assume
binomial variance per vote and overstate the width when ties are common.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.stats.active_sampling import ActivePairPolicy, ActiveSamplingConfig
from app.stats.bradley_terry import fit_bradley_terry
from app.stats.elo import ELO_BASE, ELO_INITIAL, ELO_SCALE
from app.stats.exceptions import StatsError

ALPHA = math.log(ELO_BASE)
Z95 = 1.959963984540054
POLICIES = ("uniform", "active")


@dataclass(frozen=True)
class OutcomeModel:
    tie_rate: float = 0.3  # P(tie) of an even pair
    left_bias: float = 30.0  # Elo added to whichever generator is shown on the left

    def __post_init__(self) -> None:
        if not 0 <= self.tie_rate <= 0.5:
            raise StatsError("tie_rate must be in [0, 0.5] so that P(win) stays non-negative")


def draw_outcomes(
    true_ratings: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    model: OutcomeModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Outcome per vote: 2 = left wins, 1 = tie, 0 = right wins (the battles.py codes)."""
    s = 1.0 / (
        1.0
        + ELO_BASE ** (-(true_ratings[left] - true_ratings[right] + model.left_bias) / ELO_SCALE)
    )
    p_tie = 4.0 * model.tie_rate * s * (1.0 - s)
    u = rng.random(left.shape)
    return np.where(u < s - p_tie / 2.0, 2, np.where(u < s + p_tie / 2.0, 1, 0)).astype(np.int8)


@dataclass(frozen=True, eq=False)
class Checkpoint:
    votes: int
    tau: float
    mean_ci_width: float
    error: np.ndarray  # fitted minus true rating, both with mean ELO_INITIAL (Elo)
    covered: np.ndarray  # bool per generator: true rating inside the 95% interval


@dataclass(frozen=True, eq=False)
class SimulationRun:
    policy: str
    checkpoints: tuple[Checkpoint, ...]

    def votes_to(self, *, tau: float | None = None, ci_width: float | None = None) -> float:
        """First checkpoint where tau >= `tau` (or mean CI width < `ci_width`); inf if never."""
        for cp in self.checkpoints:
            if (tau is not None and cp.tau >= tau) or (
                ci_width is not None and cp.mean_ci_width < ci_width
            ):
                return float(cp.votes)
        return math.inf

    def at(self, votes: int) -> Checkpoint | None:
        for cp in self.checkpoints:
            if cp.votes == votes:
                return cp
        return None


def checkpoint_grid(start: int, stop: int, step: float = 1.03) -> np.ndarray:
    """Vote counts start, start*step, ... up to stop (geometric, so the resolution is relative)."""
    grid = [start]
    while grid[-1] < stop:
        grid.append(max(grid[-1] + 1, math.ceil(grid[-1] * step)))
    return np.asarray(grid, dtype=np.int64)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a (no ties expected between continuous ratings)."""
    i, j = np.triu_indices(x.size, 1)
    return float(np.mean(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])))


def sum_zero_inverse(hessian: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of a BT Hessian, dropping its null directions (one per connected component).

    Not np.linalg.pinv(..., hermitian=True): with numpy 2.4 we saw it keep a -1e-13 null
    eigenvalue of a 50 x 50 Hessian and return -1e10 on the diagonal.
    """
    values, vectors = np.linalg.eigh(hessian)
    keep = values > 1e-9 * max(float(values[-1]), 1e-300)
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


def evaluate(
    true_ratings: np.ndarray, wins: np.ndarray, ties: np.ndarray, votes: int
) -> Checkpoint:
    """Fit BT to the counts and score it against the truth."""
    n = true_ratings.size
    ii, jj = np.triu_indices(n, 1)
    fit = fit_bradley_terry(n, ii, jj, wins[ii, jj], wins[jj, ii], ties[ii, jj])
    tp = fit.pairs
    p = 1.0 / (1.0 + np.exp(-ALPHA * (fit.theta[tp.i] - fit.theta[tp.j])))
    w_i, w_j = wins[tp.i, tp.j], wins[tp.j, tp.i]
    t = tp.votes - w_i - w_j
    r2 = ALPHA * ALPHA * (w_i * (1.0 - p) ** 2 + w_j * p**2 + t * (0.5 - p) ** 2)
    meat = np.zeros((n, n))
    np.add.at(meat, (tp.i, tp.j), -r2)
    np.add.at(meat, (tp.j, tp.i), -r2)
    np.add.at(meat, (tp.i, tp.i), r2)
    np.add.at(meat, (tp.j, tp.j), r2)
    bread = sum_zero_inverse(fit.hessian)
    se = ELO_SCALE * np.sqrt(np.clip(np.diag(bread @ meat @ bread), 0.0, None))
    truth = true_ratings - true_ratings.mean() + ELO_INITIAL
    error = fit.ratings - truth
    return Checkpoint(
        votes=votes,
        tau=kendall_tau(fit.ratings, truth),
        mean_ci_width=float(np.mean(2.0 * Z95 * se)),
        error=error,
        covered=np.abs(error) <= Z95 * se,
    )


def simulate(
    true_ratings,
    policy: str,
    grid: np.ndarray,
    rng: np.random.Generator,
    *,
    model: OutcomeModel | None = None,
    batch: int = 8,
    config: ActiveSamplingConfig | None = None,
    stop_tau: float | None = None,
    stop_ci_width: float | None = None,
    min_votes: int = 0,
) -> SimulationRun:
    """Run one study to the end of `grid` (or until the given stop criteria hold and `min_votes` is past).

    Uniform draws each vote's pair uniformly from all pairs; active asks ActivePairPolicy for
    `batch` pairs at a time (concurrent annotators) with all pairs as candidates.
    """
    if policy not in POLICIES:
        raise StatsError(f"policy must be one of {POLICIES}")
    true_ratings = np.asarray(true_ratings, dtype=np.float64)
    model = model or OutcomeModel()
    n = true_ratings.size
    ii, jj = np.triu_indices(n, 1)
    pairs = np.stack([ii, jj], axis=1)  # candidates as an array: no per-call list conversion
    wins = np.zeros((n, n))
    ties = np.zeros((n, n))
    active = ActivePairPolicy(config) if policy == "active" else None
    done = 0
    checkpoints: list[Checkpoint] = []
    for target in grid.tolist():
        while done < target:
            size = min(batch, target - done) if active else target - done
            if active is not None:
                chosen = np.asarray(
                    active.choose_pairs(wins, ties, pairs, size, rng), dtype=np.int64
                )
                a, b = chosen[:, 0], chosen[:, 1]
            else:
                k = rng.integers(ii.size, size=size)
                a, b = ii[k], jj[k]
            swap = rng.random(size) < 0.5  # random sides, as the assignment code does
            left, right = np.where(swap, b, a), np.where(swap, a, b)
            outcome = draw_outcomes(true_ratings, left, right, model, rng)
            np.add.at(wins, (left[outcome == 2], right[outcome == 2]), 1.0)
            np.add.at(wins, (right[outcome == 0], left[outcome == 0]), 1.0)
            np.add.at(ties, (left[outcome == 1], right[outcome == 1]), 1.0)
            np.add.at(ties, (right[outcome == 1], left[outcome == 1]), 1.0)
            done += size
        cp = evaluate(true_ratings, wins, ties, done)
        checkpoints.append(cp)
        run = SimulationRun(policy, tuple(checkpoints))
        reached_tau = stop_tau is None or math.isfinite(run.votes_to(tau=stop_tau))
        reached_ci = stop_ci_width is None or math.isfinite(run.votes_to(ci_width=stop_ci_width))
        if (
            done >= min_votes
            and (stop_tau, stop_ci_width) != (None, None)
            and reached_tau
            and reached_ci
        ):
            break
    return SimulationRun(policy, tuple(checkpoints))
