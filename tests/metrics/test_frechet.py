"""FID against pytorch-fid and clean-fid on the same float64 statistics (relative tolerance 1e-6)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from app import metrics
from app.metrics import (
    DimensionMismatchError,
    InsufficientSamplesError,
    MetricInputError,
)
from tests.metrics.conftest import inception_like


def _peer(a: np.ndarray, b: np.ndarray, peer=None) -> float:
    """The Fréchet distance by a peer's own function (pytorch-fid's unless another is given)."""
    if peer is None:
        from pytorch_fid.fid_score import calculate_frechet_distance as peer
    with warnings.catch_warnings():
        # SciPy 1.17 deprecates sqrtm(disp=...), which both peers call.
        warnings.simplefilter("ignore")
        return float(peer(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))


@pytest.mark.parametrize(
    ("n_gen", "n_real", "d", "shift"),
    [(400, 500, 32, 0.3), (900, 700, 128, 0.05), (300, 300, 16, 0.0)],
)
def test_fid_matches_pytorch_fid_and_clean_fid(rng, n_gen, n_real, d, shift):
    from cleanfid.fid import frechet_distance as cleanfid_frechet_distance

    gen = inception_like(rng, n_gen, d, shift)
    real = inception_like(rng, n_real, d)
    ours = metrics.fid(gen, real)
    assert ours.value == pytest.approx(_peer(gen, real), rel=1e-6)
    assert ours.value == pytest.approx(_peer(gen, real, cleanfid_frechet_distance), rel=1e-6)
    assert (ours.n_gen, ours.n_real) == (n_gen, n_real)


def test_frechet_distance_from_statistics_matches_peer(rng):
    a, b = inception_like(rng, 600, 64, 0.2), inception_like(rng, 500, 64)
    ours = metrics.frechet_distance(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )
    assert ours == pytest.approx(_peer(a, b), rel=1e-6)
    # Symmetric in its two arguments, as the Fréchet distance is.
    swapped = metrics.frechet_distance(
        b.mean(0), np.cov(b, rowvar=False), a.mean(0), np.cov(a, rowvar=False)
    )
    assert swapped == pytest.approx(ours, rel=1e-9)


def test_gaussian_stats_equal_numpy_cov(rng):
    x = inception_like(rng, 5000, 24, dtype=np.float32)  # more rows than one accumulation chunk
    stats = metrics.gaussian_stats(x)
    np.testing.assert_allclose(stats.mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(
        stats.sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14
    )
    assert stats.mu.dtype == stats.sigma.dtype == np.float64 and stats.n == 5000


def test_prepared_reference_and_statistics_inputs_give_the_same_fid(rng):
    gen, real = inception_like(rng, 400, 32, 0.1), inception_like(rng, 450, 32)
    direct = metrics.fid(gen, real).value
    stats = metrics.gaussian_stats(real)
    prepared = metrics.prepare_reference(stats)
    assert metrics.fid(gen, prepared).value == pytest.approx(direct, rel=1e-12)
    assert metrics.fid(metrics.gaussian_stats(gen), stats).value == pytest.approx(direct, rel=1e-12)
    assert metrics.fid(gen, prepared).n_real == 450


def test_identical_sets_have_zero_fid(rng):
    x = inception_like(rng, 300, 16)
    assert metrics.fid(x, x).value == pytest.approx(0.0, abs=1e-9)


def test_small_and_rank_deficient_samples_are_warned(rng):
    result = metrics.fid(inception_like(rng, 20, 32), inception_like(rng, 50, 32))
    text = " ".join(result.warnings)
    assert (
        "10,000" in text and "rank-deficient" in text and "20 images < feature dimension 32" in text
    )


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate(rng):
    gen, real = inception_like(rng, 400, 16, 0.2), inception_like(rng, 400, 16)
    first = metrics.fid(gen, real, bootstrap=50, seed=3)
    again = metrics.fid(gen, real, bootstrap=50, seed=3)
    other = metrics.fid(gen, real, bootstrap=50, seed=4)
    assert first.as_dict() == again.as_dict()
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    low, high = first.parameters["interval_at_n"]
    assert low < first.value < high
    # The reported interval is for the large-N FID: FID at N is biased upward, never downward.
    assert first.ci_low < first.ci_high <= high + 1e-9
    assert first.std > 0 and first.parameters["bootstrap"] == 50 and first.parameters["seed"] == 3


def test_bootstrap_rounds_equal_fid_of_explicit_resamples(rng):
    """The projected, weighted bootstrap equals recomputing FID on each resampled feature set."""
    from app.metrics.frechet import _bootstrap

    gen, real = inception_like(rng, 200, 12, 0.1), inception_like(rng, 300, 12)
    prepared = metrics.prepare_reference(metrics.gaussian_stats(real))
    fast = _bootstrap(gen, prepared, 5, seed=11)
    draws = np.random.default_rng(11)
    slow = [metrics.fid(gen[draws.integers(0, 200, size=200)], prepared).value for _ in range(5)]
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


def test_bootstrap_needs_features():
    stats = metrics.GaussianStats(np.zeros(3), np.eye(3), 100)
    with pytest.raises(MetricInputError, match="pass gen features"):
        metrics.fid(stats, stats, bootstrap=10)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bootstrap_must_be_a_count(bad):
    x = np.ones((3, 2)) + np.arange(3)[:, None] * np.array([1.0, -1.0])
    with pytest.raises(MetricInputError, match="bootstrap"):
        metrics.fid(x, x, bootstrap=bad)


def test_bad_inputs_are_refused(rng):
    x = inception_like(rng, 50, 8)
    with pytest.raises(DimensionMismatchError, match="dimension 8 but real has dimension 9"):
        metrics.fid(x, inception_like(rng, 50, 9))
    with pytest.raises(InsufficientSamplesError, match="two samples"):
        metrics.fid(x[:1], x)
    broken = x.copy()
    broken[7, 3] = np.nan
    with pytest.raises(MetricInputError, match="row 7"):
        metrics.fid(broken, x)
    with pytest.raises(MetricInputError, match="2-D"):
        metrics.fid(x[0], x)
    with pytest.raises(DimensionMismatchError, match="sigma has shape"):
        metrics.frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(DimensionMismatchError):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_singular_reference_uses_the_eigen_factor_and_agrees_with_the_swapped_distance(
    rng,
):
    few = inception_like(rng, 20, 32)  # rank 19 < 32: no Cholesky factor
    many = inception_like(rng, 400, 32, 0.1)
    prepared = metrics.prepare_reference(metrics.gaussian_stats(few))
    assert prepared.rank == 19 and prepared.factor.shape == (32, 19)
    assert metrics.prepare_reference(metrics.gaussian_stats(many)).rank == 32
    one_way = metrics.fid(many, prepared).value
    other_way = metrics.fid(few, many).value
    # Two factorisations of a rank-19 covariance: they agree to ~1e-8 relative (numpy 2.4 /
    # scipy 1.17 land at 1.07e-8), far inside the peers' own 1e-5.
    assert one_way == pytest.approx(other_way, rel=1e-7)
    assert one_way == pytest.approx(_peer(many, few), rel=1e-5)
