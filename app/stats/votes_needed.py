"""How many more votes would separate two generators at 95%, from the current data.

Method (normal approximation, as in sample-size planning for a Wald test, with the uncertainty
about the gap itself carried through):

1. Fit Bradley-Terry to the n votes so far (Elo scale). For a pair (i, j): d = r_i - r_j and
   v = Var(d) from the inverse Fisher information; I0 = 1 / v is the information on the gap.
2. A pair is separated at 95% when |d| >= z sqrt(v), z = 1.96. More votes add information x on
   the gap, and the estimate moves towards the true gap D: its median after the new votes is
   (I0 d + x D) / (I0 + x), so the pair separates (in half of the futures) once
   (I0 d + x D)^2 >= z^2 (I0 + x): a quadratic in x, solved exactly.
3. Converting information into votes: if the study goes on as it samples now (the same share of
   votes per pair), information grows with the votes, x = m / (v n); if only this pair is shown,
   each head-to-head vote adds w = (ln(10)/400)^2 p (1 - p) (Sherman-Morrison on the Fisher
   information), x = m w.
4. D is unknown. Plugging in D = d is badly biased for neighbours on a board: they are neighbours
   because their estimated gap is small, and the votes needed grow like 1/D^2. Instead the ratings
   get an empirical-Bayes normal prior, r ~ N(mean, s^2) with s^2 = (sum (r - mean)^2 - tr C) /
   (k - 1) (method of moments, C the covariance of the fit), and D runs over its posterior
   (normal; 401 equally spaced quantiles). The estimate is the median of the votes needed over
   that posterior, the range its 10 % and 90 % quantiles (inf: the pair may be tied).

`simulated_votes_needed` is the check: forward simulations of the same study from known true
ratings, continuing from the current votes with the current mix of pairs, refitting Bradley-Terry
at each step; the "simulated truth" is the number of further votes after which half of the
simulations show the pair separated (by the same Wald criterion). The estimate is only as good
as the gap is known: for a pair that is not yet separated the gap is uncertain by at least half
its size, so no estimate from the current data can be within a factor 1.5 of the truth in most
cases; tests/stats/test_votes_needed.py measures how often it is, and that the range is
calibrated.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from app.stats.bootstrap import CI_LEVEL, _solve_rounds
from app.stats.bradley_terry import BT_MAX_ITER, BT_RIDGE, BT_TOL, PairTable, fit_bradley_terry
from app.stats.elo import ELO_BASE, ELO_INITIAL, ELO_SCALE
from app.stats.exceptions import StatsError

RANGE_QUANTILES = (0.10, 0.90)
_POSTERIOR_POINTS = 401
_MIN_PRIOR_VARIANCE = 1.0  # Elo^2: a board whose spread is all noise gets (almost) no prior room


@dataclass(frozen=True)
class VotesNeeded:
    """Further votes to separate two generators (names), by both routes, with a range."""

    higher: str
    lower: str
    difference: float  # Elo, current estimate of r_higher - r_lower
    sd: float  # Elo, from the Fisher information of the current votes
    separated: bool  # |d| >= z sd already
    more_votes: float  # the study goes on with the same pair mix (inf: may never separate)
    more_votes_low: float
    more_votes_high: float  # inf when the pair may well be tied
    head_to_head: float  # only this pair is shown from now on
    n_votes: int

    def to_dict(self) -> dict:
        def finite(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "higher": self.higher,
            "lower": self.lower,
            "difference": self.difference,
            "sd": finite(self.sd),
            "separated": self.separated,
            "more_votes": finite(self.more_votes),
            "more_votes_low": finite(self.more_votes_low),
            "more_votes_high": finite(self.more_votes_high),
            "head_to_head": finite(self.head_to_head),
            "n_votes": self.n_votes,
        }


def _z(level: float) -> float:
    return float(ndtri(0.5 + level / 2.0))


def information_needed(d: float, v: float, true_gap: np.ndarray, z: float) -> np.ndarray:
    """Information x to add on the gap so that (I0 d + x D)^2 >= z^2 (I0 + x), I0 = 1/v, for each
    D in `true_gap`: the positive root of the quadratic (inf where D = 0 never separates)."""
    gap = np.asarray(true_gap, dtype=np.float64)
    i0 = 1.0 / v
    if d * d * i0 >= z * z:
        return np.zeros_like(gap)
    a = gap * gap
    b = 2.0 * i0 * d * gap - z * z
    c = i0 * (i0 * d * d - z * z)  # < 0: not separated now
    with np.errstate(divide="ignore", invalid="ignore"):
        root = (-b + np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)
    return np.where(a > 0, root, np.inf)


def prior_variance(ratings: np.ndarray, covariance: np.ndarray) -> float:
    """Method-of-moments spread of the true ratings: sample variance minus the noise in it."""
    k = ratings.size
    if k < 2:
        return _MIN_PRIOR_VARIANCE
    centred = ratings - ratings.mean()
    spread = (float(centred @ centred) - float(np.trace(covariance))) / (k - 1)
    return max(spread, _MIN_PRIOR_VARIANCE)


def posterior(ratings: np.ndarray, covariance: np.ndarray, prior: float):
    """Normal posterior of the ratings (centred) under the prior N(mean, prior I)."""
    precision = np.linalg.pinv(covariance, hermitian=True)
    post_cov = np.linalg.inv(precision + np.eye(ratings.size) / prior)
    centred = ratings - ratings.mean()
    return post_cov @ precision @ centred, post_cov


def votes_needed(
    fit,
    generators: tuple[str, ...],
    higher: int,
    lower: int,
    *,
    level: float = CI_LEVEL,
    post: tuple[np.ndarray, np.ndarray] | None = None,
) -> VotesNeeded:
    """Votes needed to separate `higher` from `lower` (indices) given a BradleyTerryFit;
    `post`: the posterior (mean, covariance) of the ratings (computed here when absent)."""
    n = round(float(fit.pairs.votes.sum()))
    z = _z(level)
    d = float(fit.ratings[higher] - fit.ratings[lower])
    cov = fit.covariance
    v = float(cov[higher, higher] + cov[lower, lower] - 2 * cov[higher, lower])
    if fit.components[higher] != fit.components[lower] or not v > 0:
        # Never compared, directly or through others: no estimate of the gap to plan with.
        inf = math.inf
        return VotesNeeded(
            generators[higher], generators[lower], d, inf, False, inf, inf, inf, inf, n
        )
    sd = math.sqrt(v)
    if abs(d) >= z * sd:
        return VotesNeeded(generators[higher], generators[lower], d, sd, True, 0, 0, 0, 0, n)
    mean, post_cov = (
        post if post is not None else posterior(fit.ratings, cov, prior_variance(fit.ratings, cov))
    )
    contrast = np.zeros(fit.ratings.size)
    contrast[higher], contrast[lower] = 1.0, -1.0
    gap_mean = float(contrast @ mean)
    gap_sd = math.sqrt(max(float(contrast @ post_cov @ contrast), 0.0))
    grid = (np.arange(_POSTERIOR_POINTS) + 0.5) / _POSTERIOR_POINTS
    gaps = gap_mean + gap_sd * ndtri(grid)
    x = information_needed(d, v, gaps, z)
    design = x * v * n  # the study's current pair mix: information grows with the votes
    alpha = math.log(fit.base) / fit.scale
    p = 1.0 / (1.0 + math.exp(-alpha * d))
    direct = x / (alpha * alpha * p * (1.0 - p))  # head-to-head votes only
    low, high = np.quantile(design, RANGE_QUANTILES)
    return VotesNeeded(
        generators[higher],
        generators[lower],
        d,
        sd,
        False,
        float(np.median(design)),
        float(low),
        float(high),
        float(np.median(direct)),
        n,
    )


def adjacent_votes_needed(
    fit, generators: tuple[str, ...], *, level: float = CI_LEVEL
) -> list[VotesNeeded]:
    """Votes needed for each pair of neighbours on the board (ratings in descending order)."""
    ratings = np.asarray(fit.ratings, dtype=np.float64)
    post = posterior(ratings, fit.covariance, prior_variance(ratings, fit.covariance))
    order = np.argsort(-ratings, kind="stable")
    return [
        votes_needed(fit, generators, int(a), int(b), level=level, post=post)
        for a, b in itertools.pairwise(order)
    ]


# ----------------------------------------------------------------------------- simulation check


def _wald_separated(theta, i, j, votes, alpha, hi, lo, z):
    """Per simulated round: |d| >= z sd with sd from the Fisher information at the fit."""
    rounds, k = theta.shape
    p = 1.0 / (1.0 + np.exp(-alpha * (theta[:, i] - theta[:, j])))
    w = alpha * alpha * votes * p * (1.0 - p)
    hess = np.zeros((rounds, k, k))
    np.add.at(hess, (slice(None), i, j), -w)
    np.add.at(hess, (slice(None), j, i), -w)
    np.add.at(hess, (slice(None), i, i), w)
    np.add.at(hess, (slice(None), j, j), w)
    cov = np.linalg.pinv(hess, hermitian=True)
    var = cov[:, hi, hi] + cov[:, lo, lo] - 2 * cov[:, hi, lo]
    d = theta[:, hi] - theta[:, lo]
    return np.abs(d) >= z * np.sqrt(np.maximum(var, 0.0))


def simulated_votes_needed(
    true_ratings: np.ndarray,
    table: PairTable,
    pairs: list[tuple[int, int]],
    *,
    grid: np.ndarray,
    simulations: int = 200,
    seed: int | None = 0,
    level: float = CI_LEVEL,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
) -> np.ndarray:
    """Per pair, the further votes after which half of the forward simulations separate it.

    Simulations continue from the current votes (`table`, the aggregated pair counts) and draw
    new votes with the same share per pair, outcomes from `true_ratings`. `grid` holds increasing
    numbers of further votes (0 first is allowed); the answer is interpolated on a log scale
    between the grid points around the 50% crossing, inf when it is not reached within the grid.
    """
    grid = np.asarray(grid, dtype=np.int64)
    if grid.ndim != 1 or grid.size == 0 or np.any(np.diff(grid) <= 0) or grid[0] < 0:
        raise StatsError("grid must be increasing non-negative vote counts")
    rng = np.random.default_rng(seed)
    alpha = math.log(base)
    z = _z(level)
    theta_true = (np.asarray(true_ratings, dtype=np.float64) - ELO_INITIAL) / scale
    i, j = table.i, table.j
    shares = table.votes / table.votes.sum()
    p_true = 1.0 / (1.0 + np.exp(-alpha * (theta_true[i] - theta_true[j])))
    score = np.broadcast_to(table.score_i, (simulations, i.size)).astype(np.float64)
    votes = np.broadcast_to(table.votes, (simulations, i.size)).astype(np.float64)
    point = fit_bradley_terry(
        table.n_generators, i, j, table.score_i, table.votes - table.score_i, np.zeros(i.size)
    )
    share_separated = np.zeros((grid.size, len(pairs)))
    done = 0
    for g, m in enumerate(grid):
        step = int(m) - done
        if step > 0:
            new = rng.multinomial(step, shares, size=simulations)
            score = score + rng.binomial(new, p_true)
            votes = votes + new
            done = int(m)
        theta, _conv = _solve_rounds(
            i, j, score, votes, point.theta, alpha, BT_RIDGE, BT_TOL, BT_MAX_ITER
        )
        for c, (hi, lo) in enumerate(pairs):
            share_separated[g, c] = _wald_separated(theta, i, j, votes, alpha, hi, lo, z).mean()
    out = np.full(len(pairs), np.inf)
    for c in range(len(pairs)):
        above = np.flatnonzero(share_separated[:, c] >= 0.5)
        if above.size == 0:
            continue
        g = int(above[0])
        if g == 0:
            out[c] = float(grid[0])
            continue
        # Log-linear interpolation of the crossing between grid[g-1] and grid[g].
        s0, s1 = share_separated[g - 1, c], share_separated[g, c]
        x0, x1 = math.log(max(grid[g - 1], 1)), math.log(grid[g])
        t = (0.5 - s0) / (s1 - s0) if s1 > s0 else 1.0
        out[c] = math.exp(x0 + t * (x1 - x0))
    return out
