"""KID against the full-set unbiased estimate (1e-9), torch-fidelity's subsets and clean-fid."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from app import metrics
from app.metrics import MetricInputError
from tests.metrics.conftest import inception_like


def _full_set_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook unbiased MMD² with k(a, b) = (a·b/d + 1)³, written out with explicit masks."""
    d, m = x.shape[1], x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    off = ~np.eye(m, dtype=bool)
    return kxx[off].sum() / (m * (m - 1)) + kyy[off].sum() / (m * (m - 1)) - 2 * kxy.mean()


def _torch_fidelity(gen, real, subsets, size, seed):
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric

    return kid_features_to_metric(
        torch.from_numpy(gen),
        torch.from_numpy(real),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )


@pytest.mark.parametrize(("n", "d"), [(200, 16), (500, 64)])
def test_full_set_kid_equals_the_unbiased_estimate(rng, n, d):
    from cleanfid.fid import kernel_distance

    gen, real = inception_like(rng, n, d, 0.1), inception_like(rng, n, d)
    expected = _full_set_unbiased(gen, real)
    result = metrics.kid(gen, real, subsets=3, subset_size=n, seed=0)
    assert result.value == pytest.approx(expected, rel=1e-9)
    # Every subset is the whole of both sets: no spread, said as such rather than "± 0".
    assert result.std is None and "whole of both sets" in result.parameters["spread"]
    assert metrics.mmd2_unbiased(gen, real) == pytest.approx(expected, rel=1e-9)
    # clean-fid draws with the global RNG; with subsets of the whole set its draws do not matter.
    assert kernel_distance(gen, real, num_subsets=2, max_subset_size=n) == pytest.approx(
        expected, rel=1e-9
    )


@pytest.mark.parametrize("full_kernels", [False, True], ids=["per-subset", "full-kernels"])
@pytest.mark.parametrize(
    ("n_gen", "n_real", "size", "seed"), [(600, 500, 200, 1), (300, 900, 250, 2026)]
)
def test_kid_matches_torch_fidelity_with_the_same_subsets(
    rng, monkeypatch, full_kernels, n_gen, n_real, size, seed
):
    # Both evaluation strategies: a kernel per subset, or one pass over the full kernels.
    monkeypatch.setattr(
        sys.modules["app.metrics.kid"],
        "_full_kernels_are_cheaper",
        lambda *_: full_kernels,
    )
    gen, real = inception_like(rng, n_gen, 32, 0.2), inception_like(rng, n_real, 32)
    peer = _torch_fidelity(gen, real, subsets=8, size=size, seed=seed)
    ours = metrics.kid(gen, real, subsets=8, subset_size=size, seed=seed)
    assert ours.value == pytest.approx(peer["kernel_inception_distance_mean"], rel=1e-9)
    assert ours.std == pytest.approx(peer["kernel_inception_distance_std"], rel=1e-7)
    assert ours.parameters == {
        "subsets": 8,
        "subset_size": size,
        "seed": seed,
        "kernel": "polynomial (x.y/d + 1)^3",
        "estimator": "unbiased",
        "spread": "std over subsets (ddof=0)",
    }


def test_subset_size_is_capped_with_a_warning(rng):
    gen, real = inception_like(rng, 120, 8), inception_like(rng, 80, 8)
    result = metrics.kid(gen, real, subsets=4, seed=1)
    assert result.parameters["subset_size"] == 40
    assert result.warnings == [
        "KID subset size capped at 40, half the smaller set (requested 1000; 120 generated and "
        "80 real images), so that subsets differ and their spread means something"
    ]
    assert result.std > 0


def test_seed_is_recorded_and_reproducible(rng):
    gen, real = inception_like(rng, 300, 8, 0.1), inception_like(rng, 300, 8)
    drawn = metrics.kid(gen, real, subsets=5, subset_size=50)
    assert isinstance(drawn.parameters["seed"], int)
    again = metrics.kid(gen, real, subsets=5, subset_size=50, seed=drawn.parameters["seed"])
    assert again.value == drawn.value and again.std == drawn.std


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subsets": 0}, "subsets must be a positive integer"),
        ({"subset_size": -3}, "subset_size must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 2**40}, "below 2\\*\\*32"),
    ],
)
def test_bad_parameters_are_refused(rng, kwargs, message):
    x = inception_like(rng, 20, 4)
    with pytest.raises(MetricInputError, match=message):
        metrics.kid(x, x, **kwargs)


def test_unequal_sizes_are_refused_by_the_plain_estimate(rng):
    with pytest.raises(MetricInputError, match="equal sample sizes"):
        metrics.mmd2_unbiased(inception_like(rng, 10, 4), inception_like(rng, 11, 4))


def test_small_sets_take_the_full_kernel_pass():
    from app.metrics.kid import _full_kernels_are_cheaper, kid_subset_indices

    assert _full_kernels_are_cheaper(2000, 2000, kid_subset_indices(2000, 2000, 100, 1000, 0))
    assert not _full_kernels_are_cheaper(
        10_000, 10_000, kid_subset_indices(10_000, 10_000, 100, 1000, 0)
    )
