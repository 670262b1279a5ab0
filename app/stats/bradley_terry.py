"""Bradley-Terry maximum-likelihood ratings on the Elo scale.

Bradley & Terry 1952, "Rank analysis of incomplete block designs"; parameterised as in Chatbot
Arena (FastChat compute_bt): P(i beats j) = 1 / (1 + base**-(theta_i - theta_j)), rating =
scale * theta + initial, a tie counts as half a win for each side. FastChat minimises that
negative log-likelihood with L-BFGS (gtol 1e-6) from theta = 0; we run Newton's method with a
backtracking line search on the same objective, which reaches the optimum to ~1e-7 Elo.

Ridge: we add ridge/2 * ||theta||^2 (default 1e-6, i.e. one millionth of a vote's
log-likelihood). On a connected log where nobody won or lost every vote this moves ratings by
well under 1e-6 Elo; it makes the problem strictly convex, so a generator that won (or lost)
every vote gets a large but finite rating instead of diverging, and it fixes the gauge: the
optimum has sum(theta) = 0 within each connected component, i.e. mean `initial` there, which is
what FastChat's zero start with zero-sum gradients also gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from app.stats.battles import Battles, unique_outcomes
from app.stats.elo import ELO_BASE, ELO_INITIAL, ELO_SCALE
from app.stats.exceptions import StatsError, UnknownGeneratorError

BT_RIDGE = 1e-6
BT_TOL = 1e-9  # largest Newton step (theta units) at convergence: 4e-7 Elo at scale 400
BT_MAX_ITER = 100
TRUST_STEP = 0.02  # theta units; larger Newton steps are backtracked on the objective

Anchor = tuple[str, float]


# ----------------------------------------------------------------------------- pair aggregation


@dataclass(frozen=True, eq=False)
class PairTable:
    """Unordered pairs i < j with the score of i (wins + ties/2) and the number of votes."""

    n_generators: int
    i: np.ndarray
    j: np.ndarray
    score_i: np.ndarray
    votes: np.ndarray

    @property
    def n_pairs(self) -> int:
        return int(self.i.shape[0])


def pair_table(n_generators: int, a_idx, b_idx, wins_a, wins_b, ties) -> PairTable:
    """Collapse rows (a, b, wins_a, wins_b, ties), in either orientation and with repeats, to pairs."""
    a = np.asarray(a_idx, dtype=np.int64).ravel()
    b = np.asarray(b_idx, dtype=np.int64).ravel()
    wa = np.asarray(wins_a, dtype=np.float64).ravel()
    wb = np.asarray(wins_b, dtype=np.float64).ravel()
    t = np.asarray(ties, dtype=np.float64).ravel()
    if not (a.shape == b.shape == wa.shape == wb.shape == t.shape):
        raise StatsError("a_idx, b_idx, wins_a, wins_b and ties must have the same length")
    if a.size and (a.min() < 0 or b.min() < 0 or max(a.max(), b.max()) >= n_generators):
        raise StatsError("generator index out of range")
    if np.any(a == b):
        raise StatsError("a generator cannot play itself")
    if np.any(wa < 0) or np.any(wb < 0) or np.any(t < 0):
        raise StatsError("counts must be non-negative")
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # Score of the lower-indexed generator: its wins plus half the ties.
    score_lo = np.where(a == lo, wa, wb) + 0.5 * t
    total = wa + wb + t
    key = lo * n_generators + hi
    keys, inverse = np.unique(key, return_inverse=True)
    score = np.bincount(inverse, weights=score_lo, minlength=keys.size)
    votes = np.bincount(inverse, weights=total, minlength=keys.size)
    keep = votes > 0
    keys, score, votes = keys[keep], score[keep], votes[keep]
    return PairTable(n_generators, keys // n_generators, keys % n_generators, score, votes)


def comparison_components(n_generators: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected component label per generator of the graph "has been compared with"."""
    if n_generators == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n_generators, n_generators))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


# ----------------------------------------------------------------------------- Newton solver


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _objective(theta, i, j, score, votes, alpha, ridge):
    """Negative log-likelihood (+ ridge) per row of theta (rounds x generators)."""
    x = alpha * (theta[:, i] - theta[:, j])
    # s*softplus(-x) + (n-s)*softplus(x) == n*softplus(x) - s*x: one logaddexp instead of two.
    nll = votes * _softplus(x) - score * x
    return nll.sum(axis=1) + 0.5 * ridge * np.einsum("bk,bk->b", theta, theta)


def _incidence(n_generators: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    inc = np.zeros((i.size, n_generators))
    rows = np.arange(i.size)
    inc[rows, i] = 1.0
    inc[rows, j] = -1.0
    return inc


def _newton(theta, i, j, score, votes, alpha, ridge, tol, max_iter):
    """Damped Newton on each row of theta independently (rows = bootstrap rounds).

    score/votes are (rounds x pairs) or (pairs,). Returns theta, iterations used, converged mask.
    """
    theta = np.array(theta, dtype=np.float64, copy=True)
    n_rounds, k = theta.shape
    # The ridge optimum has sum(theta) = 0, and the likelihood is blind to a common shift, so we
    # work in the sum-zero subspace: centre the start, drop the gradient's mean and give the
    # all-ones direction a curvature of the Hessian's scale. Otherwise that direction has
    # curvature `ridge` only, and rounding noise in the gradient (~1e-12 relative) divided by
    # 1e-6 makes Newton jitter along it for many iterations.
    theta -= theta.mean(axis=1, keepdims=True)
    score = np.broadcast_to(score, (n_rounds, i.size))
    votes = np.broadcast_to(votes, (n_rounds, i.size))
    inc = _incidence(k, i, j)
    deg_inc = np.abs(inc)
    diag = np.arange(k)
    converged = np.zeros(n_rounds, dtype=bool)
    iterations = np.zeros(n_rounds, dtype=np.int64)
    active = np.arange(n_rounds)
    loss = np.full(n_rounds, np.nan)  # computed only for rounds that need a line search
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, s, n = theta[active], score[active], votes[active]
        p = 1.0 / (1.0 + np.exp(-alpha * (th[:, i] - th[:, j])))
        grad = alpha * ((n * p - s) @ inc) + ridge * th
        w = (alpha * alpha) * n * p * (1.0 - p)
        hess = np.zeros((active.size, k, k))
        hess[:, i, j] = -w
        hess[:, j, i] = -w
        degree = w @ deg_inc
        hess[:, diag, diag] = degree + ridge
        hess += (degree.mean(axis=1) / k + ridge)[:, None, None]
        grad -= grad.mean(axis=1, keepdims=True)
        step = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        t = np.ones(active.size)
        new_theta = th + step
        # Line search only where the step is large. Within TRUST_STEP (8 Elo at scale 400) the
        # weights n p (1-p) change by under ~10%, the quadratic model is accurate and the full
        # Newton step is taken; this skips most objective evaluations in warm-started bootstrap
        # rounds, and convergence is still judged on the step size below.
        todo = np.flatnonzero(np.max(np.abs(step), axis=1) > TRUST_STEP)
        slope = np.einsum("bk,bk->b", grad, step)
        old = loss[active]
        stale = todo[np.isnan(old[todo])]
        if stale.size:
            old[stale] = _objective(th[stale], i, j, s[stale], n[stale], alpha, ridge)
        new_loss = np.full(active.size, np.nan)
        if todo.size:
            new_loss[todo] = _objective(new_theta[todo], i, j, s[todo], n[todo], alpha, ridge)
        for _ in range(60):
            if todo.size == 0:
                break
            # Armijo condition, with slack at the level of rounding error of the loss so that a
            # round already at its optimum is not refused a step of size 1e-12.
            bad = new_loss[todo] > old[todo] + 1e-4 * t[todo] * slope[todo] + 1e-12 * np.abs(
                old[todo]
            )
            todo = todo[bad]
            if todo.size == 0:
                break
            t[todo] *= 0.5
            new_theta[todo] = th[todo] + t[todo, None] * step[todo]
            new_loss[todo] = _objective(new_theta[todo], i, j, s[todo], n[todo], alpha, ridge)
        theta[active] = new_theta
        loss[active] = new_loss
        iterations[active] += 1
        done = np.max(np.abs(t[:, None] * step), axis=1) < tol
        converged[active[done]] = True
        active = active[~done]
    return theta, iterations, converged


# ----------------------------------------------------------------------------- public fit


@dataclass(frozen=True, eq=False)
class BradleyTerryFit:
    """Bradley-Terry MLE from pair counts; ratings on the Elo scale, mean `initial` per component."""

    ratings: np.ndarray  # Elo scale = scale * theta + initial
    theta: np.ndarray  # natural parameters (log-base strengths), sum zero per component
    hessian: np.ndarray  # Hessian of the negative log-likelihood in theta (without the ridge)
    covariance: np.ndarray  # Elo^2; pseudo-inverse of the Hessian (sum-zero gauge per component)
    components: np.ndarray  # component label per generator
    pairs: PairTable
    iterations: int
    converged: bool
    log_likelihood: float
    scale: float
    base: float
    initial: float
    ridge: float

    @property
    def n_components(self) -> int:
        return int(np.unique(self.components).size)

    @property
    def standard_errors(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))


def fit_bradley_terry(
    n_generators: int,
    a_idx,
    b_idx,
    wins_a,
    wins_b,
    ties,
    *,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    initial: float = ELO_INITIAL,
    ridge: float = BT_RIDGE,
    tol: float = BT_TOL,
    max_iter: int = BT_MAX_ITER,
    theta0: np.ndarray | None = None,
) -> BradleyTerryFit:
    """Bradley-Terry MLE (Bradley & Terry 1952) from aggregated counts per (a, b) row.

    Rows may repeat and come in either orientation; ties count half a win to each side (FastChat
    compute_bt). `theta0` warm-starts the solver (e.g. the previous fit while votes arrive).
    """
    if ridge <= 0:
        raise StatsError("ridge must be positive (it keeps all-win generators finite)")
    pairs = pair_table(n_generators, a_idx, b_idx, wins_a, wins_b, ties)
    alpha = math.log(base)
    components = comparison_components(n_generators, pairs.i, pairs.j)
    start = (
        np.zeros((1, n_generators))
        if theta0 is None
        else np.asarray(theta0, dtype=np.float64).reshape(1, -1)
    )
    if start.shape[1] != n_generators:
        raise StatsError("theta0 must have one entry per generator")
    if n_generators == 0:
        theta, iters, conv = start, np.zeros(1, dtype=np.int64), np.ones(1, dtype=bool)
    else:
        theta, iters, conv = _newton(
            start, pairs.i, pairs.j, pairs.score_i, pairs.votes, alpha, ridge, tol, max_iter
        )
    theta = theta[0]
    # The ridge optimum is already centred per component; remove rounding drift explicitly.
    for label in np.unique(components):
        members = components == label
        theta[members] -= theta[members].mean()
    p = 1.0 / (1.0 + np.exp(-alpha * (theta[pairs.i] - theta[pairs.j])))
    w = alpha * alpha * pairs.votes * p * (1.0 - p)
    hessian = np.zeros((n_generators, n_generators))
    np.add.at(hessian, (pairs.i, pairs.j), -w)
    np.add.at(hessian, (pairs.j, pairs.i), -w)
    np.add.at(hessian, (pairs.i, pairs.i), w)
    np.add.at(hessian, (pairs.j, pairs.j), w)
    covariance = (
        scale * scale * np.linalg.pinv(hessian, hermitian=True) if n_generators else hessian.copy()
    )
    with np.errstate(divide="ignore"):
        x = alpha * (theta[pairs.i] - theta[pairs.j])
        loglik = -float(
            np.sum(pairs.score_i * _softplus(-x) + (pairs.votes - pairs.score_i) * _softplus(x))
        )
    return BradleyTerryFit(
        ratings=scale * theta + initial,
        theta=theta,
        hessian=hessian,
        covariance=covariance,
        components=components,
        pairs=pairs,
        iterations=int(iters[0]),
        converged=bool(conv[0]),
        log_likelihood=loglik,
        scale=scale,
        base=base,
        initial=initial,
        ridge=ridge,
    )


def anchor_offset(
    ratings: np.ndarray, components: np.ndarray, anchor_index: int, value: float
) -> np.ndarray:
    """Shift ratings (.., generators) so the anchor sits at `value`; only its own component moves,
    since ratings in different components are not on a common scale."""
    ratings = np.array(ratings, dtype=np.float64, copy=True)
    members = components == components[anchor_index]
    shift = value - ratings[..., anchor_index]
    ratings[..., members] += np.asarray(shift)[..., None] if ratings.ndim > 1 else shift
    return ratings


def component_groups(
    generators: tuple[str, ...], components: np.ndarray
) -> tuple[tuple[str, ...], ...]:
    """Generator names per connected component, largest first, then by first member."""
    groups: dict[int, list[str]] = {}
    for name, label in zip(generators, components.tolist()):
        groups.setdefault(label, []).append(name)
    return tuple(
        tuple(g) for g in sorted(groups.values(), key=lambda g: (-len(g), generators.index(g[0])))
    )


def graph_warnings(
    generators: tuple[str, ...], components: np.ndarray, n_votes: int
) -> tuple[str, ...]:
    """Human-readable warnings about what the ratings cannot mean on this comparison graph."""
    warnings: list[str] = []
    if n_votes == 0:
        warnings.append("no votes: every rating is the initial value")
    groups = component_groups(generators, components)
    if len(groups) > 1:
        warnings.append(
            f"the comparison graph has {len(groups)} disconnected components; ratings are only "
            "comparable within a component (each is centred separately) and ranks are computed "
            "within components: " + "; ".join(", ".join(g) for g in groups)
        )
    return tuple(warnings)


def resolve_anchor(generators: tuple[str, ...], anchor: Anchor | None) -> int | None:
    if anchor is None:
        return None
    name, _ = anchor
    try:
        return generators.index(name)
    except ValueError:
        raise UnknownGeneratorError(
            f"anchor generator {name!r} does not occur in the votes"
        ) from None


@dataclass(frozen=True, eq=False)
class BradleyTerryResult:
    """Bradley-Terry ratings of named generators, anchored, with the comparison-graph diagnosis."""

    generators: tuple[str, ...]
    ratings: tuple[float, ...]
    anchor: Anchor | None
    components: tuple[tuple[str, ...], ...]
    warnings: tuple[str, ...]
    n_votes: int
    fit: BradleyTerryFit = field(repr=False)

    def rating(self, name: str) -> float:
        return self.ratings[self.generators.index(name)]

    def to_dict(self) -> dict:
        return {
            "ratings": dict(zip(self.generators, self.ratings)),
            "anchor": None
            if self.anchor is None
            else {"generator": self.anchor[0], "value": self.anchor[1]},
            "components": [list(c) for c in self.components],
            "warnings": list(self.warnings),
            "n_votes": self.n_votes,
            "converged": self.fit.converged,
            "params": {
                "scale": self.fit.scale,
                "base": self.fit.base,
                "initial": self.fit.initial,
                "ridge": self.fit.ridge,
            },
        }


def bradley_terry(
    battles: Battles,
    *,
    anchor: Anchor | None = None,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    initial: float = ELO_INITIAL,
    ridge: float = BT_RIDGE,
) -> BradleyTerryResult:
    """Bradley-Terry ratings of a battle log (FastChat compute_bt), mean `initial` or anchored."""
    anchor_index = resolve_anchor(battles.generators, anchor)
    uniq = unique_outcomes(battles)
    wins_a, wins_b, ties = uniq.pair_totals()
    fit = fit_bradley_terry(
        battles.n_generators,
        uniq.a,
        uniq.b,
        wins_a,
        wins_b,
        ties,
        scale=scale,
        base=base,
        initial=initial,
        ridge=ridge,
    )
    ratings = fit.ratings
    if anchor_index is not None:
        ratings = anchor_offset(ratings, fit.components, anchor_index, float(anchor[1]))
    return BradleyTerryResult(
        generators=battles.generators,
        ratings=tuple(float(r) for r in ratings),
        anchor=None if anchor is None else (anchor[0], float(anchor[1])),
        components=component_groups(battles.generators, fit.components),
        warnings=graph_warnings(battles.generators, fit.components, len(battles)),
        n_votes=len(battles),
        fit=fit,
    )
