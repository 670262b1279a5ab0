"""Honest uncertainty at small n: KID spread, FID's large-N interval, FID∞ and PRDC intervals.

The simulations draw Gaussian features in a few dimensions, where the true Fréchet distance is
known in closed form, so coverage can be counted.
"""

from __future__ import annotations

import numpy as np
import pytest

from app import metrics
from app.metrics.errors import InsufficientSamplesError
from app.metrics.frechet import GaussianStats, _bootstrap, _Projected, fid_infinity
from tests.metrics.conftest import inception_like


def _gaussians(d: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    b = rng.standard_normal((d, d)) / np.sqrt(d)
    real = GaussianStats(np.zeros(d), a @ a.T + 0.5 * np.eye(d), None)
    gen_mu, gen_sigma = np.full(d, 0.3), b @ b.T + 0.5 * np.eye(d)
    truth = metrics.frechet_distance(gen_mu, gen_sigma, real.mu, real.sigma)
    return rng, real, gen_mu, gen_sigma, truth


def test_kid_has_a_spread_at_150_images_with_the_default_settings(rng):
    gen, real = inception_like(rng, 150, 32, 0.05), inception_like(rng, 150, 32)
    result = metrics.kid(gen, real, seed=1)
    assert result.parameters["subset_size"] == 75
    assert result.std is not None and result.std > 0
    assert result.parameters["spread"] == "std over subsets (ddof=0)"


def test_kid_says_no_spread_when_it_cannot_be_estimated(rng):
    gen, real = inception_like(rng, 40, 8), inception_like(rng, 40, 8)
    one = metrics.kid(gen, real, subsets=1, subset_size=10, seed=1)
    assert one.std is None
    assert one.parameters["spread"].startswith("one subset only")
    assert "KID has no spread: one subset only (use at least 2)" in one.warnings
    whole = metrics.kid(gen[:2], real[:2], subsets=5, seed=1)
    assert whole.std is None and "whole of both sets" in whole.parameters["spread"]


def test_fid_interval_covers_the_large_n_value_at_the_stated_rate():
    """200 seeded draws of 150 images in 4-d: the 95% interval holds the true (N -> inf) FID
    in 95% of them, within binomial error (3 standard errors: >= 0.90)."""
    rng, real, mu, sigma, truth = _gaussians(4, seed=7)
    covered = 0
    reps = 200
    for rep in range(reps):
        sample = rng.multivariate_normal(mu, sigma, size=150)
        result = metrics.fid(sample, real, bootstrap=100, seed=rep)
        covered += result.ci_low <= truth <= result.ci_high
    assert covered / reps >= 0.90, covered / reps
    assert covered / reps <= 0.99  # an interval that always covers would be uselessly wide


def test_fid_infinity_recovers_the_true_frechet_distance_within_its_interval():
    """Three seeded draws of 200 images in 16-d: FID∞'s interval holds the true distance each
    time, and FID∞ removes most of FID's upward 1/N bias."""
    bias, error = [], []
    for seed in (3, 4, 5):
        rng, real, mu, sigma, truth = _gaussians(16, seed=seed)
        sample = rng.multivariate_normal(mu, sigma, size=200)
        result = fid_infinity(sample, real, bootstrap=50, seed=5)
        assert result.ci_low <= truth <= result.ci_high, (result.ci_low, truth, result.ci_high)
        bias.append(metrics.fid(sample, real).value - truth)
        error.append(abs(result.value - truth))
    assert min(bias) > 0 and np.mean(error) < np.mean(bias) / 2, (bias, error)
    assert result.parameters["sizes"][0] == 20 and result.parameters["sizes"][-1] == 199
    assert fid_infinity(sample, real, bootstrap=50, seed=5).as_dict() == result.as_dict()


def test_fid_infinity_needs_a_few_subset_sizes(rng):
    with pytest.raises(InsufficientSamplesError, match="at least 3 subset sizes"):
        fid_infinity(inception_like(rng, 3, 4), inception_like(rng, 30, 4))


@pytest.mark.parametrize("n, d", [(40, 24), (300, 12)])
def test_weighted_fid_equals_fid_of_the_repeated_rows(rng, n, d):
    """The k x k Gram path (fewer rows than dimensions) and the d x d path give FID exactly."""
    gen, real = inception_like(rng, n, d, 0.1), inception_like(rng, 200, d)
    prepared = metrics.prepare_reference(metrics.gaussian_stats(real))
    counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
    expected = metrics.fid(np.repeat(gen, counts, axis=0), prepared).value
    assert _Projected(gen, prepared).fid(counts) == pytest.approx(expected, rel=1e-7)
    assert _bootstrap(gen, prepared, 2, seed=1).shape == (2,)


def test_prdc_intervals_bracket_the_estimates_and_leave_them_unchanged(rng):
    real, gen = inception_like(rng, 200, 8), inception_like(rng, 180, 8, 0.1)
    plain = metrics.prdc(real, gen)
    with_ci = metrics.prdc(real, gen, bootstrap=100, seed=2)
    assert with_ci == metrics.prdc(real, gen, bootstrap=100, seed=2)
    for name, value in with_ci.items():
        assert value.value == plain[name].value
        assert value.ci_low <= value.value <= value.ci_high
        assert 0 < value.ci_high - value.ci_low < 0.5
        assert value.parameters["bootstrap"] == 100 and value.parameters["seed"] == 2
