"""Active pair sampling: show the pair whose vote most sharpens the ranking and the confidence intervals.

The score of a candidate pair is the expected drop, from one more vote on it, of two uncertainties
under the Laplace (Gaussian) approximation N(theta, C) of the Bradley-Terry posterior. A vote on
(i, j) adds Fisher information w = alpha^2 p (1 - p) along d = e_i - e_j, so by Sherman-Morrison C
loses w (C d)(C d)^T / (1 + w d^T C d), and any weighted sum tr(W C) of the covariance drops by

    gain_W(i, j) = w d^T C W C d / (1 + w d^T C d);

the score is gain_W with W = D / S + lambda_t L / P, two terms:

- CI term: sum_k sd_k drops by about gain_D with D = diag(1 / (2 sd_k)); divided by S = sum_k sd_k
  it is the relative shrink of the mean CI width. This is the A-optimal greedy design (Pukelsheim
  2006, ch. 9) weighted towards the mean CI width.
- ranking term: k is ahead of l with posterior probability p_kl = Phi(z_kl), z_kl = m_kl / s_kl,
  m_kl = theta_k - theta_l and s_kl^2 its variance. Before it is cast, the vote moves m_kl by a
  Gaussian of variance tau^2 = w (d_kl^T C d)^2 / (1 + w d^T C d) (the preposterior), under which
  p_kl is a martingale, so the expected drop of the order's entropy H(p_kl) is, by the delta
  method, tau^2 |H''(p_kl)| (dp_kl / dm_kl)^2 / 2 = omega_kl tau^2 with
  omega_kl = phi(z_kl)^2 / (2 s_kl^2 p_kl (1 - p_kl)): largest for pairs whose order is a coin
  flip, negligible for pairs already ordered. Summed over all P = n(n-1)/2 pairs this is gain_L
  with L the graph Laplacian of the weights omega_kl (tau^2 is the drop of s_kl^2), so it costs a
  few more n x n products; divided by P it is the drop of the mean order entropy per pair. In spirit this is the information gain on the pairwise orders of ASAP (Mikhailiuk et
  al. 2020, "Active Sampling for Pairwise Comparisons via Approximate Message Passing and
  Information Gain Maximization") and of Crowd-BT (Chen et al. 2013, "Pairwise Ranking
  Aggregation in a Crowdsourced Setting"), by the delta method instead of message passing.
- schedule: lambda_t = `rank_weight` exp(-v / `rank_fade_votes`), v the mean votes per pair. The
  ranking is formed in the first few votes per pair, and there the ranking term leads; then it
  fades (and is skipped below 1e-3). Both terms shrink like 1/N, so without the fade a near-tie
  whose order stays a coin flip at any budget would keep drawing votes away from the CI term, and
  late in a study the CI term alone is already close to the best design for the CI width (on the
  benchmark's 20 generators the A-optimal design for known ratings needs 0.678 of uniform's votes).

Greedy information gain gives lopsided pairs next to nothing and promises nothing to anyone, so
the choice is made in this order, within the candidate pairs the caller can actually hand out:

1. warm-up: a generator with fewer than `warmup_votes` votes (a newly added one) is shown first;
2. exposure floor: a generator whose share of votes is below `min_exposure_share` of its fair
   share 2N/n is shown next;
3. pair floor: once the study has `pair_floor_from` votes per pair on average, a pair with fewer
   than max(1, `min_pair_share` x the mean votes per pair) is shown next, so every pair is shown
   and none falls behind. Not from the first vote: that would spend the first n(n-1)/2 votes on a
   round robin, mostly on lopsided pairs, exactly while the ranking is being formed;
4. otherwise the pair with the largest score (ties broken by the caller's rng).

A batch for k concurrent annotators is chosen greedily with the covariance updated after every
pick as if that vote had been cast, so picks spread over pairs and generators, and no pair is
repeated before every candidate pair has appeared once in the batch.

The posterior uses a Gaussian prior on the ratings (sd `prior_sd` Elo, i.e. the ridge of the
Bradley-Terry fit), so a generator with no votes has a finite, large variance instead of an
undefined one. The fit is warm-started and redone only when the votes have grown by
`refit_fraction` since the last fit (counted over calls: one vote per call adds up); in between,
each new vote is folded into the covariance by a rank-one update at the last fit's win
probabilities, so one choice costs O(n^2) plus a few n x n products, and one in every
`refit_fraction` x N votes pays for a warm-started fit.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from app.stats.bradley_terry import fit_bradley_terry
from app.stats.elo import ELO_BASE, ELO_SCALE
from app.stats.exceptions import StatsError

ALPHA = math.log(ELO_BASE)


@dataclass(frozen=True)
class ActiveSamplingConfig:
    """Settings of the active policy; the defaults are the ones benchmarks/sampling.py measures."""

    prior_sd: float = 400.0  # Elo; prior sd of a rating around the pool mean
    warmup_votes: int = 10  # a generator with fewer votes is explored before anything else
    min_exposure_share: float = 0.5  # of the fair share 2N/n of votes per generator
    min_pair_share: float = 0.03  # of the mean votes per pair
    pair_floor_from: float = 2.0  # mean votes per pair from which the pair floor applies
    rank_weight: float = 30.0  # weight of the ranking term (order entropy per pair) vs the CI term
    rank_fade_votes: float = 1.0  # the ranking term fades as exp(-mean votes per pair / this)
    refit_fraction: float = 0.01  # refit the BT posterior when the votes grew by this fraction

    def __post_init__(self) -> None:
        if not self.prior_sd > 0:
            raise StatsError("prior_sd must be positive")
        if self.warmup_votes < 0:
            raise StatsError("warmup_votes must be non-negative")
        if not 0 <= self.min_exposure_share <= 1:
            raise StatsError("min_exposure_share must be in [0, 1]")
        if not 0 <= self.min_pair_share <= 1:
            raise StatsError("min_pair_share must be in [0, 1]")
        if not self.pair_floor_from >= 0:
            raise StatsError("pair_floor_from must be non-negative")
        if not self.rank_weight >= 0:
            raise StatsError("rank_weight must be non-negative")
        if not self.rank_fade_votes > 0:
            raise StatsError("rank_fade_votes must be positive")
        if not 0 <= self.refit_fraction < 1:
            raise StatsError("refit_fraction must be in [0, 1)")

    @property
    def ridge(self) -> float:
        """Prior precision in the fit's theta units (rating = scale * theta)."""
        return (ELO_SCALE / self.prior_sd) ** 2


# ----------------------------------------------------------------------------- input checks


def vote_matrices(wins, ties) -> tuple[np.ndarray, np.ndarray]:
    """Validate wins[i, j] (i beat j) and symmetric ties[i, j]; return them as float arrays."""
    w = np.asarray(wins, dtype=np.float64)
    t = np.asarray(ties, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise StatsError(f"wins must be a square matrix, got shape {w.shape}")
    if t.shape != w.shape:
        raise StatsError(f"ties must have the shape of wins {w.shape}, got {t.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(t))):
        raise StatsError("wins and ties must be finite")
    if np.any(w < 0) or np.any(t < 0):
        raise StatsError("wins and ties must be non-negative")
    if np.any(np.diag(w) != 0) or np.any(np.diag(t) != 0):
        raise StatsError(
            "a generator cannot play itself: the diagonals of wins and ties must be zero"
        )
    if not np.array_equal(t, t.T):
        raise StatsError(
            "ties must be symmetric: ties[i, j] == ties[j, i] counts the ties of the pair once"
        )
    return w, t


def candidate_arrays(
    candidates: Sequence[tuple[int, int]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    if len(candidates) == 0:
        raise StatsError("candidates must not be empty")
    try:
        arr = np.asarray(candidates, dtype=np.int64).reshape(len(candidates), 2)
    except (TypeError, ValueError):
        raise StatsError("candidates must be (i, j) pairs of generator indices") from None
    ci, cj = arr[:, 0], arr[:, 1]
    if np.any(ci < 0) or np.any(cj < 0) or np.any(ci >= n) or np.any(cj >= n):
        raise StatsError(f"candidate index out of range 0..{n - 1}")
    if np.any(ci == cj):
        raise StatsError("a candidate pair must hold two different generators")
    return ci, cj


# ----------------------------------------------------------------------------- policy state


class ActivePairPolicy:
    """The active policy with its warm-started posterior; feed it the current counts on each call."""

    def __init__(self, config: ActiveSamplingConfig | None = None) -> None:
        self.config = config or ActiveSamplingConfig()
        self.n = -1
        self.wins = np.zeros((0, 0))
        self.totals = np.zeros((0, 0))  # votes per unordered pair, symmetric
        self.theta = np.zeros(0)
        self.cov = np.zeros((0, 0))  # posterior covariance in theta units, gauge direction removed
        self.refits = 0
        self._votes_at_fit = 0.0

    # -- state

    @property
    def n_votes(self) -> float:
        return float(self.totals.sum() / 2.0)

    def dominated_by(self, wins: np.ndarray, totals: np.ndarray) -> float | None:
        """Votes to add to reach (wins, totals) from this state, or None if votes would be removed."""
        if (
            wins.shape != self.wins.shape
            or np.any(wins < self.wins)
            or np.any(totals < self.totals)
        ):
            return None
        return float((totals - self.totals).sum() / 2.0)

    def sync(self, wins, ties) -> None:
        """Bring the posterior up to the given counts: a rank-one update per new vote, or a refit."""
        w, t = vote_matrices(wins, ties)
        w = (
            w.copy()
        )  # our own copy: a caller that adds votes in place must not move our state along
        totals = w + w.T + t
        added = self.dominated_by(w, totals)
        # Growth since the last fit, not since the last call: one vote per call must add up to a refit.
        grown = None if added is None else self.n_votes + added - self._votes_at_fit
        if grown is None or grown >= max(1.0, self.config.refit_fraction * self._votes_at_fit):
            self._refit(w, totals)
            return
        if added > 0:
            diff = totals - self.totals
            ii, jj = np.nonzero(np.triu(diff))
            p = 1.0 / (1.0 + np.exp(-ALPHA * (self.theta[ii] - self.theta[jj])))
            for i, j, info in zip(ii, jj, diff[ii, jj] * ALPHA * ALPHA * p * (1.0 - p)):
                _add_information(self.cov, int(i), int(j), float(info))
        self.wins, self.totals = w, totals

    def _refit(self, wins: np.ndarray, totals: np.ndarray) -> None:
        n = wins.shape[0]
        ii, jj = np.nonzero(np.triu(totals, 1))
        ties = totals[ii, jj] - wins[ii, jj] - wins[jj, ii]
        theta0 = self.theta if self.n == n else None
        fit = fit_bradley_terry(
            n,
            ii,
            jj,
            wins[ii, jj],
            wins[jj, ii],
            ties,
            ridge=self.config.ridge,
            theta0=theta0,
        )
        ridge = self.config.ridge
        precision = fit.hessian + ridge * np.eye(n)
        cov = np.linalg.inv(precision) if n else precision
        # The likelihood never sees a common shift, so the all-ones direction keeps the prior
        # variance 1/ridge; remove it so that variances are those of the sum-zero ratings.
        self.cov = cov - 1.0 / (n * ridge) if n else cov
        self.theta = fit.theta
        self.n, self.wins, self.totals = n, wins, totals
        self._votes_at_fit = self.n_votes
        self.refits += 1

    # -- choices

    def standard_errors(self) -> np.ndarray:
        """Posterior sd of each rating, in Elo."""
        return ELO_SCALE * np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    def choose_pair(
        self,
        wins,
        ties,
        candidates: Sequence[tuple[int, int]],
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        return self.choose_pairs(wins, ties, candidates, 1, rng)[0]

    def choose_pairs(
        self,
        wins,
        ties,
        candidates: Sequence[tuple[int, int]],
        k: int,
        rng: np.random.Generator,
    ) -> list[tuple[int, int]]:
        """k pairs for k concurrent annotators, each chosen as if the previous ones had been voted on."""
        if k < 1:
            raise StatsError("k must be at least 1")
        self.sync(wins, ties)
        n = self.n
        ci, cj = candidate_arrays(candidates, n)
        cov = self.cov.copy()
        exposure = self.totals.sum(axis=1)
        pair_votes = self.totals[ci, cj].copy()
        n_votes = self.n_votes
        n_pairs = n * (n - 1) / 2.0
        p = 1.0 / (1.0 + np.exp(-ALPHA * (self.theta[ci] - self.theta[cj])))
        info = ALPHA * ALPHA * p * (1.0 - p)
        used = np.zeros(ci.size, dtype=np.int64)
        flat_ij = ci * n + cj
        picks: list[tuple[int, int]] = []
        for _ in range(k):
            # Diversity: a pair is not repeated within a batch before every candidate had its turn.
            eligible = np.flatnonzero(used == used.min())
            eligible = self._guarantees(eligible, ci, cj, exposure, pair_votes, n_votes, n_pairs)
            gain = self._scores(
                cov,
                info[eligible],
                ci[eligible],
                cj[eligible],
                flat_ij[eligible],
                n_votes / n_pairs,
            )
            best = eligible[np.flatnonzero(gain >= gain.max() * (1.0 - 1e-9))]
            pick = int(best[rng.integers(best.size)]) if best.size > 1 else int(best[0])
            i, j = int(ci[pick]), int(cj[pick])
            picks.append((i, j))
            _add_information(cov, i, j, float(info[pick]))
            exposure[i] += 1
            exposure[j] += 1
            same = ((ci == i) & (cj == j)) | ((ci == j) & (cj == i))  # either orientation
            pair_votes[same] += 1
            used[same] += 1
            n_votes += 1
        return picks

    def rank_weight_at(self, votes_per_pair: float) -> float:
        """lambda_t of the module docstring: the ranking term's weight at this many votes per pair."""
        return self.config.rank_weight * math.exp(-votes_per_pair / self.config.rank_fade_votes)

    def _scores(self, cov, info, ci, cj, flat_ij, votes_per_pair: float) -> np.ndarray:
        """The score of the module docstring for each candidate: CI term plus faded ranking term."""
        score = _gains(cov, info, ci, cj, flat_ij) / np.sqrt(np.clip(np.diag(cov), 0.0, None)).sum()
        weight = self.rank_weight_at(votes_per_pair)
        if weight > 1e-3:  # past ~10 votes per pair it would move scores by well under 0.1%
            n_pairs = self.n * (self.n - 1) / 2.0
            score += (weight / n_pairs) * _order_gains(cov, self.theta, info, ci, cj, flat_ij)
        return score

    def _guarantees(self, eligible, ci, cj, exposure, pair_votes, n_votes, n_pairs) -> np.ndarray:
        """Narrow the eligible candidates by the warm-up, exposure and pair floors, in that order."""
        cfg = self.config
        present = np.zeros(self.n, dtype=bool)
        present[ci[eligible]] = True
        present[cj[eligible]] = True
        lowest = int(np.argmin(np.where(present, exposure, np.inf)))
        fair = 2.0 * n_votes / self.n
        if exposure[lowest] < cfg.warmup_votes or exposure[lowest] < cfg.min_exposure_share * fair:
            return eligible[(ci[eligible] == lowest) | (cj[eligible] == lowest)]
        mean = n_votes / n_pairs
        if cfg.min_pair_share == 0 or mean < cfg.pair_floor_from:
            return eligible
        starved = pair_votes[eligible] < max(1.0, cfg.min_pair_share * mean)
        if starved.any():
            below = eligible[starved]
            return below[pair_votes[below] == pair_votes[below].min()]
        return eligible


def _gains(
    cov: np.ndarray, info: np.ndarray, ci: np.ndarray, cj: np.ndarray, flat_ij: np.ndarray
) -> np.ndarray:
    """Expected first-order drop of sum_k sd_k from one vote on each candidate (module docstring).

    `flat_ij` is ci * n + cj, so each off-diagonal gather is one np.take.
    """
    var_k = np.clip(np.diag(cov), 1e-300, None)
    return _quadratic_gains(cov, (cov / (2.0 * np.sqrt(var_k))) @ cov, info, ci, cj, flat_ij)


def _order_gains(
    cov: np.ndarray, theta: np.ndarray, info: np.ndarray, ci, cj, flat_ij
) -> np.ndarray:
    """Expected drop of the summed entropy of all pairwise orders from one vote on each candidate."""
    return _quadratic_gains(cov, cov @ order_laplacian(theta, cov) @ cov, info, ci, cj, flat_ij)


def order_laplacian(theta: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Laplacian of omega_kl = phi(z)^2 / (2 s^2 Phi(z) Phi(-z)), z = (theta_k - theta_l) / s_kl.

    omega_kl is the entropy drop of the order of k and l per unit of variance removed from
    theta_k - theta_l (module docstring); computed in logs, as Phi(-z) underflows for ordered pairs.
    """
    n = theta.size
    a, b = np.triu_indices(n, 1)
    s2 = np.clip(cov[a, a] + cov[b, b] - 2.0 * cov[a, b], 1e-300, None)
    z = np.abs(theta[a] - theta[b]) / np.sqrt(s2)  # omega is even in z
    omega = np.exp(-z * z - math.log(4.0 * math.pi) - np.log(s2) - log_ndtr(z) - log_ndtr(-z))
    lap = np.zeros((n, n))
    lap[a, b] = -omega
    lap[b, a] = -omega
    lap[np.diag_indices(n)] = -lap.sum(axis=1)
    return lap


def _quadratic_gains(cov, m, info, ci, cj, flat_ij) -> np.ndarray:
    """w d^T M d / (1 + w d^T C d) per candidate, M = C W C (module docstring)."""
    quad = np.diag(m)[ci] + np.diag(m)[cj] - 2.0 * m.take(flat_ij)
    var = np.diag(cov)[ci] + np.diag(cov)[cj] - 2.0 * cov.take(flat_ij)
    return info * quad / (1.0 + info * var)


def _add_information(cov: np.ndarray, i: int, j: int, info: float) -> None:
    """Sherman-Morrison: cov <- (cov^-1 + info d d^T)^-1 with d = e_i - e_j, in place."""
    u = cov[:, i] - cov[:, j]
    denom = 1.0 + info * (u[i] - u[j])
    cov -= (info / denom) * np.outer(u, u)


# ----------------------------------------------------------------------------- stateless entry points

_CACHE_SIZE = 32
_cache: OrderedDict[int, ActivePairPolicy] = OrderedDict()
_cache_lock = threading.Lock()
_next_key = 0


def _policy_for(wins, ties) -> ActivePairPolicy:
    """The cached policy whose counts the given ones extend with the fewest new votes (LRU, bounded).

    Studies are told apart by their counts alone: votes only ever grow, so the state a study left
    behind is the one its next call extends the least. A miss starts a fresh policy.
    """
    global _next_key
    w, t = vote_matrices(wins, ties)
    totals = w + w.T + t
    best_key, best_added = None, math.inf
    for key, policy in _cache.items():
        added = policy.dominated_by(w, totals)
        if added is not None and added < best_added:
            best_key, best_added = key, added
    if best_key is None:
        best_key, _next_key = _next_key, _next_key + 1
        _cache[best_key] = ActivePairPolicy()
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    _cache.move_to_end(best_key)
    return _cache[best_key]


def choose_pair(
    wins: np.ndarray,
    ties: np.ndarray,
    candidates: Sequence[tuple[int, int]],
    rng: np.random.Generator,
) -> tuple[int, int]:
    """The next pair to show, one of `candidates`: wins[i, j] = votes where i beat j, ties symmetric."""
    return choose_pairs(wins, ties, candidates, 1, rng)[0]


def choose_pairs(
    wins: np.ndarray,
    ties: np.ndarray,
    candidates: Sequence[tuple[int, int]],
    k: int,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """k diverse pairs from `candidates` for k concurrent annotators."""
    with _cache_lock:
        policy = _policy_for(wins, ties)
        return policy.choose_pairs(wins, ties, candidates, k, rng)


def clear_cache() -> None:
    """Forget every cached posterior (tests; or after votes were deleted)."""
    with _cache_lock:
        _cache.clear()
