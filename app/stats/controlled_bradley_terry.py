"""Bradley-Terry with covariates: ratings controlled for the side shown and per-image features.

The covariate form of Chatbot Arena's "style control" (Chiang et al. 2024; LMArena blog "Does
style matter?", 2024-08): a logistic regression on each vote

    P(left wins) = sigmoid(alpha * (theta_left - theta_right) + gamma + beta . z)

where alpha = ln(base), theta are the generators' strengths, gamma is the advantage of the left
side (position bias) and z holds the covariate differences of the two images shown (left minus
right; LMArena uses (x_l - x_r) / (x_l + x_r), standardised over the votes). Ties count half a
win to each side, as in plain Bradley-Terry. The ratings are what remains of the preference once
side and covariates are accounted for; gamma and beta say how much those moved the votes.

Fitted by Newton's method on the exact objective (tiny ridge, sum-zero gauge on theta as in
app.stats.bradley_terry); intervals by a bootstrap over votes (percentile intervals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.stats.battles import Battles
from app.stats.bootstrap import CI_LEVEL
from app.stats.bradley_terry import BT_RIDGE, BT_TOL
from app.stats.elo import ELO_BASE, ELO_INITIAL, ELO_SCALE
from app.stats.exceptions import DegenerateDataError, StatsError

SIDE = "left side"
CONTROLLED_BOOTSTRAP_ROUNDS = 200
_MAX_ITER = 100


def normalized_difference(left, right) -> np.ndarray:
    """(x_left - x_right) / (x_left + x_right), LMArena's style-control feature; 0 where both are 0."""
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    if np.any(left < 0) or np.any(right < 0):
        raise StatsError("normalized differences need non-negative covariates (sizes, counts)")
    total = left + right
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (left - right) / np.where(total > 0, total, 1.0), 0.0)


def standardize(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns scaled to unit standard deviation (not centred: a zero difference must stay zero,
    or the intercept would absorb part of the side effect). Returns the scaled array and the
    scales, so coefficients can be reported per unit of the raw difference too."""
    z = np.asarray(z, dtype=np.float64)
    scales = z.std(axis=0) if z.size else np.ones(z.shape[1] if z.ndim == 2 else 0)
    if np.any(scales == 0):
        raise DegenerateDataError(
            "a covariate has the same difference in every vote; it cannot be controlled for"
        )
    return z / scales, scales


@dataclass(frozen=True, eq=False)
class ControlledFit:
    """Point estimate of the controlled model."""

    generators: tuple[str, ...]
    ratings: np.ndarray  # Elo scale, mean `initial`
    coefficients: np.ndarray  # [gamma (if side), beta...] in log-odds per unit of z
    coefficient_names: tuple[str, ...]
    covariance: np.ndarray  # of (theta, coefficients) from the inverse Hessian, natural units
    iterations: int
    converged: bool
    n_votes: int


@dataclass(frozen=True, eq=False)
class ControlledBradleyTerry:
    """Controlled ratings and coefficients with bootstrap percentile intervals."""

    fit: ControlledFit
    rating_samples: np.ndarray  # rounds x generators
    coefficient_samples: np.ndarray  # rounds x coefficients
    level: float
    seed: int | None

    @property
    def generators(self) -> tuple[str, ...]:
        return self.fit.generators

    def _interval(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tail = (1.0 - self.level) / 2.0
        return np.quantile(samples, tail, axis=0), np.quantile(samples, 1.0 - tail, axis=0)

    @property
    def rating_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        return self._interval(self.rating_samples)

    @property
    def coefficient_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        return self._interval(self.coefficient_samples)

    def to_dict(self) -> dict:
        low, high = self.rating_intervals
        c_low, c_high = self.coefficient_intervals
        return {
            "ratings": {
                name: {"rating": float(r), "ci_low": float(lo), "ci_high": float(hi)}
                for name, r, lo, hi in zip(self.generators, self.fit.ratings, low, high)
            },
            "coefficients": {
                name: {
                    "log_odds": float(c),
                    "odds_ratio": math.exp(float(c)),
                    "ci_low": float(lo),
                    "ci_high": float(hi),
                }
                for name, c, lo, hi in zip(
                    self.fit.coefficient_names, self.fit.coefficients, c_low, c_high
                )
            },
            "n_votes": self.fit.n_votes,
            "bootstrap_rounds": int(self.rating_samples.shape[0]),
            "level": self.level,
            "seed": self.seed,
            "converged": self.fit.converged,
        }


def _design(battles: Battles, z: np.ndarray, side: bool, alpha: float) -> np.ndarray:
    """One row per vote: +alpha at the left generator, -alpha at the right, then 1 (side), z."""
    n, k = len(battles), battles.n_generators
    cols = k + int(side) + z.shape[1]
    x = np.zeros((n, cols))
    rows = np.arange(n)
    x[rows, battles.a] += alpha
    x[rows, battles.b] -= alpha
    if side:
        x[:, k] = 1.0
    x[:, k + int(side) :] = z
    return x


def _newton(x, s, w, k, params, ridge, tol=BT_TOL, max_iter=_MAX_ITER):
    """Weighted logistic MLE with the theta block kept sum-zero (the likelihood ignores a shift)."""
    params = params.copy()
    params[:k] -= params[:k].mean()
    converged = False
    it = 0
    loss = None

    def objective(p):
        eta = x @ p
        return float(np.sum(w * (np.logaddexp(0.0, eta) - s * eta)) + 0.5 * ridge * p @ p)

    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        eta = x @ params
        prob = 1.0 / (1.0 + np.exp(-eta))
        grad = x.T @ (w * (prob - s)) + ridge * params
        grad[:k] -= grad[:k].mean()
        hess = (x * (w * prob * (1.0 - prob))[:, None]).T @ x
        hess[np.diag_indices_from(hess)] += ridge
        # Curvature along the all-ones theta direction (a free gauge otherwise).
        hess[:k, :k] += np.trace(hess[:k, :k]) / (k * k)
        step = -np.linalg.solve(hess, grad)
        t = 1.0
        if np.max(np.abs(step)) > 0.05:
            loss = objective(params) if loss is None else loss
            slope = float(grad @ step)
            for _ in range(60):
                new_loss = objective(params + t * step)
                if new_loss <= loss + 1e-4 * t * slope + 1e-12 * abs(loss):
                    break
                t *= 0.5
            loss = new_loss
        else:
            loss = None
        params = params + t * step
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    params[:k] -= params[:k].mean()
    return params, hess, it, converged


def controlled_bradley_terry(
    battles: Battles,
    covariates: np.ndarray | None = None,
    covariate_names: Sequence[str] = (),
    *,
    side: bool = True,
    rounds: int = CONTROLLED_BOOTSTRAP_ROUNDS,
    seed: int | None = 0,
    level: float = CI_LEVEL,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    initial: float = ELO_INITIAL,
    ridge: float = BT_RIDGE,
) -> ControlledBradleyTerry:
    """Fit the controlled model and bootstrap it over votes (resampling votes with replacement).

    `covariates` is (votes x p): per vote, the left image's feature minus the right's, on any scale
    the caller chose (see normalized_difference and standardize); `side` adds the left-side term.
    """
    n, k = len(battles), battles.n_generators
    if n == 0:
        raise DegenerateDataError("no votes: nothing to fit")
    z = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[0] != n:
        raise StatsError(f"covariates have {z.shape[0]} rows for {n} votes")
    if len(covariate_names) != z.shape[1]:
        raise StatsError(f"{z.shape[1]} covariates need {z.shape[1]} names")
    if not np.all(np.isfinite(z)):
        raise StatsError("covariates must be finite numbers")
    if rounds < 0:
        raise StatsError("rounds must be zero or positive")
    if not 0 < level < 1:
        raise StatsError("level must be between 0 and 1")
    alpha = math.log(base)
    x = _design(battles, z, side, alpha)
    s = battles.score_a()
    names = ((SIDE,) if side else ()) + tuple(covariate_names)
    # Votes with the same design row and outcome are one row with a weight (without continuous
    # covariates a few dozen rows stand for any number of votes); resampling votes with
    # replacement is then a multinomial over the distinct rows with their shares.
    distinct, counts = np.unique(np.column_stack([x, s]), axis=0, return_counts=True)
    x, s = distinct[:, :-1], distinct[:, -1]
    shares = counts / n
    params, hess, iterations, converged = _newton(
        x, s, counts.astype(np.float64), k, np.zeros(x.shape[1]), ridge
    )
    covariance = np.linalg.pinv(hess)
    fit = ControlledFit(
        generators=battles.generators,
        ratings=scale * params[:k] + initial,
        coefficients=params[k:],
        coefficient_names=names,
        covariance=covariance,
        iterations=iterations,
        converged=converged,
        n_votes=n,
    )
    rng = np.random.default_rng(seed)
    rating_samples = np.empty((rounds, k))
    coefficient_samples = np.empty((rounds, len(names)))
    for r in range(rounds):
        weights = rng.multinomial(n, shares).astype(np.float64)
        sample, _h, _it, _ok = _newton(x, s, weights, k, params, ridge)
        rating_samples[r] = scale * sample[:k] + initial
        coefficient_samples[r] = sample[k:]
    return ControlledBradleyTerry(fit, rating_samples, coefficient_samples, level, seed)
