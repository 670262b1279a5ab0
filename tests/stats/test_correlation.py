"""Metric–human rank agreement: scipy's statistics, sign correction, CIs, small-n honesty."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from app.stats.correlation import rank_agreement


def test_matches_scipy_and_corrects_the_sign():
    rng = np.random.default_rng(3)
    human = rng.normal(1000, 100, size=12)
    fid = 50 - 0.1 * human + rng.normal(0, 3, size=12)  # lower FID = better
    result = rank_agreement("fid", human, fid, lower_is_better=True, rounds=300, seed=1)
    assert result.spearman == pytest.approx(stats.spearmanr(human, -fid).statistic, abs=1e-12)
    assert result.kendall == pytest.approx(stats.kendalltau(human, -fid).statistic, abs=1e-12)
    assert result.spearman > 0.8 and result.conclusive
    assert result.spearman_ci[0] <= result.spearman <= result.spearman_ci[1]


def test_is_reproducible_with_a_seed():
    human, metric = np.arange(8.0), np.array([1, 3, 2, 5, 4, 7, 6, 8.0])
    a = rank_agreement("x", human, metric, lower_is_better=False, rounds=200, seed=5)
    b = rank_agreement("x", human, metric, lower_is_better=False, rounds=200, seed=5)
    assert a == b


def test_few_generators_are_never_conclusive():
    result = rank_agreement("clip", [1, 2, 3], [1, 2, 3], lower_is_better=False, rounds=100)
    assert result.spearman == pytest.approx(1.0) and not result.conclusive
    assert "too few" in result.note


def test_degenerate_inputs_say_why():
    result = rank_agreement("kid", [1, 2], [np.nan, 1], lower_is_better=True)
    assert result.spearman is None and "at least 3" in result.note
    constant = rank_agreement("kid", [1, 2, 3, 4], [5, 5, 5, 5], lower_is_better=True)
    assert constant.spearman is None


@pytest.mark.parametrize("n, ties", [(6, False), (12, True), (40, False)])
def test_vectorised_bootstrap_matches_scipy_per_resample(n, ties):
    """The bootstrap CIs equal those of calling scipy's spearmanr/kendalltau on every resample."""
    rng = np.random.default_rng(n)
    human = rng.normal(size=n)
    metric = human + rng.normal(scale=0.8, size=n)
    if ties:
        metric = np.round(metric)  # ties on the metric side exercise average ranks and tau-b
    result = rank_agreement("m", human, metric, lower_is_better=False, rounds=400, seed=9)
    draws = np.random.default_rng(9).integers(0, n, size=(400, n))
    rhos, taus = [], []
    for index in draws:
        h, v = human[index], metric[index]
        if np.ptp(h) == 0 or np.ptp(v) == 0:
            continue
        rhos.append(stats.spearmanr(h, v).statistic)
        taus.append(stats.kendalltau(h, v).statistic)
    assert result.spearman_ci == pytest.approx(
        tuple(np.nanpercentile(rhos, [2.5, 97.5])), abs=1e-12
    )
    assert result.kendall_ci == pytest.approx(tuple(np.nanpercentile(taus, [2.5, 97.5])), abs=1e-12)
