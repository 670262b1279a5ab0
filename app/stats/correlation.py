"""Which automatic metric agrees with humans: rank correlation with the human rating, with CIs.

Spearman's rho and Kendall's tau-b (scipy.stats) between each metric and the human Bradley-Terry
rating over the generators both cover, sign-corrected so that +1 always means "the metric ranks
generators the way humans do" (FID, KID and CMMD are lower-is-better). 95% CIs by a seeded
bootstrap over generators; with few generators the CI is wide and `conclusive` is False.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

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
            metric, n, None, None, None, None, lower_is_better, False,
            f"needs at least 3 generators with distinct values on both sides (have {n})",
            rounds, seed,
        )
    rho = float(stats.spearmanr(human, values).statistic)
    tau = float(stats.kendalltau(human, values).statistic)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(rounds, n))
    rhos, taus = [], []
    for index in draws:
        h, v = human[index], values[index]
        if np.ptp(h) == 0 or np.ptp(v) == 0:
            continue  # a resample of one distinct generator has no ranking
        rhos.append(stats.spearmanr(h, v).statistic)
        taus.append(stats.kendalltau(h, v).statistic)
    rho_ci = tuple(float(x) for x in np.nanpercentile(rhos, [2.5, 97.5])) if rhos else None
    tau_ci = tuple(float(x) for x in np.nanpercentile(taus, [2.5, 97.5])) if taus else None
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
