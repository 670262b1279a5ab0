"""Which automatic metric agrees with humans: rank correlation with the human rating, with CIs.

Spearman's rho and Kendall's tau-b (scipy.stats) between each metric and the human Bradley-Terry
rating over the generators both cover, sign-corrected so that +1 always means "the metric ranks
generators the way humans do" (FID, KID and CMMD are lower-is-better). 95% CIs by a seeded
bootstrap over generators; with few generators the CI is wide and `conclusive` is False.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Below this many generators a rank correlation cannot distinguish agreement from chance.
MIN_GENERATORS = 5


@dataclass(frozen=True)
class RankAgreement:
    metric: str
    n_generators: int
    spearman: float | None
    spearman_ci: tuple[float, float] | None
    kendall: float | None
    kendall_ci: tuple[float, float] | None
    lower_is_better: bool
    conclusive: bool
    note: str
    bootstrap_rounds: int
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def _finite_pairs(human: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(human) & np.isfinite(metric)
    return human[keep], metric[keep]


# Resamples handled at once in the vectorised bootstrap: bounds the rounds x pairs sign arrays.
_MAX_PAIR_ENTRIES = 2_000_000


def _bootstrap_correlations(
    human: np.ndarray, values: np.ndarray, draws: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho and Kendall's tau-b of every bootstrap resample (rows of `draws`), skipping
    resamples where either side has a single distinct value (no ranking).

    The same statistics scipy.stats.spearmanr (Pearson correlation of average ranks) and
    kendalltau (tau-b: concordant minus discordant pairs over the geometric mean of the pairs
    untied on each side) compute, vectorised over resamples: calling scipy once per resample
    cost ~0.4 s per metric for 1000 rounds, which made every leaderboard recomputation slow.
    """
    from scipy import stats  # on first use: scipy.stats takes a second to import

    h_all, v_all = human[draws], values[draws]
    keep = (np.ptp(h_all, axis=1) > 0) & (np.ptp(v_all, axis=1) > 0)
    h_all, v_all, draws = h_all[keep], v_all[keep], draws[keep]
    n = draws.shape[1]
    upper_i, upper_j = np.triu_indices(n, k=1)
    # Signs of all differences between the original generators, gathered per resampled pair.
    sign_h = np.sign(human[:, None] - human[None, :]).astype(np.int8)
    sign_v = np.sign(values[:, None] - values[None, :]).astype(np.int8)
    chunk = max(1, _MAX_PAIR_ENTRIES // max(1, upper_i.size))
    rhos, taus = [], []
    for start in range(0, h_all.shape[0], chunk):
        h, v = h_all[start : start + chunk], v_all[start : start + chunk]
        rh = stats.rankdata(h, axis=1)
        rv = stats.rankdata(v, axis=1)
        rh -= rh.mean(axis=1, keepdims=True)
        rv -= rv.mean(axis=1, keepdims=True)
        rhos.append((rh * rv).sum(axis=1) / np.sqrt((rh * rh).sum(axis=1) * (rv * rv).sum(axis=1)))
        d = draws[start : start + chunk]
        first, second = d[:, upper_i], d[:, upper_j]
        sh = sign_h[first, second]
        sv = sign_v[first, second]
        untied = np.count_nonzero(sh, axis=1) * np.count_nonzero(sv, axis=1)
        concordance = np.einsum("ij,ij->i", sh, sv, dtype=np.int64)
        taus.append(concordance / np.sqrt(untied))
    if not rhos:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(rhos), np.concatenate(taus)


def rank_agreement(
    metric: str,
    human_rating,
    metric_values,
    *,
    lower_is_better: bool,
    rounds: int = 1000,
    seed: int = 0,
) -> RankAgreement:
    """Spearman and Kendall correlation of a metric with the human rating (higher = better)."""
    human, values = _finite_pairs(
        np.asarray(human_rating, dtype=np.float64), np.asarray(metric_values, dtype=np.float64)
    )
    if lower_is_better:
        values = -values
    n = human.size
    if n < 3 or np.ptp(human) == 0 or np.ptp(values) == 0:
        return RankAgreement(
            metric,
            n,
            None,
            None,
            None,
            None,
            lower_is_better,
            False,
            f"needs at least 3 generators with distinct values on both sides (have {n})",
            rounds,
            seed,
        )
    from scipy import stats  # on first use: scipy.stats takes a second to import

    rho = float(stats.spearmanr(human, values).statistic)
    tau = float(stats.kendalltau(human, values).statistic)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(rounds, n))
    rhos, taus = _bootstrap_correlations(human, values, draws)
    rho_ci = tuple(float(x) for x in np.nanpercentile(rhos, [2.5, 97.5])) if rhos.size else None
    tau_ci = tuple(float(x) for x in np.nanpercentile(taus, [2.5, 97.5])) if taus.size else None
    conclusive = n >= MIN_GENERATORS and rho_ci is not None and (rho_ci[0] > 0 or rho_ci[1] < 0)
    if n < MIN_GENERATORS:
        note = f"only {n} generators: too few to conclude anything about agreement"
    elif conclusive:
        note = "the 95% CI of Spearman's rho excludes 0"
    else:
        note = "the 95% CI of Spearman's rho includes 0: no evidence either way"
    return RankAgreement(
        metric, n, rho, rho_ci, tau, tau_ci, lower_is_better, conclusive, note, rounds, seed
    )
