"""Precision/recall/density/coverage must EQUAL prdc.compute_prdc (same sklearn arithmetic)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from app import metrics
from app.metrics import (
    DimensionMismatchError,
    InsufficientSamplesError,
    MetricInputError,
)
from tests.metrics.conftest import inception_like


def _peer(real, gen, k):
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the sample sizes
        return compute_prdc(real, gen, k)


@pytest.mark.parametrize(
    ("n_real", "n_gen", "d", "k", "dtypes", "chunk"),
    [
        (400, 350, 64, 5, (np.float32, np.float32), None),
        (400, 350, 64, 5, (np.float64, np.float64), 37),
        (300, 320, 48, 3, (np.float32, np.float64), 64),
        (257, 513, 2048, 5, (np.float32, np.float32), 100),
        (60, 60, 8, 10, (np.float64, np.float32), 1),
    ],
)
def test_prdc_equals_the_prdc_package(rng, n_real, n_gen, d, k, dtypes, chunk):
    real = inception_like(rng, n_real, d, dtype=dtypes[0])
    gen = inception_like(rng, n_gen, d, 0.15, dtype=dtypes[1])
    expected = _peer(real, gen, k)
    ours = metrics.prdc(real, gen, k=k, chunk_size=chunk)
    assert {name: value.value for name, value in ours.items()} == {
        name: float(v) for name, v in expected.items()
    }
    assert (
        0 < ours["precision"].value < 1 and 0 < ours["coverage"].value < 1
    )  # a test that can fail
    assert ours["density"].parameters["k"] == k and ours["recall"].n_real == n_real


def test_float32_radii_are_bit_identical_to_prdc(rng):
    from prdc.prdc import compute_nearest_neighbour_distances

    x = inception_like(rng, 300, 96, dtype=np.float32)
    expected = compute_nearest_neighbour_distances(x, 5)
    ours = metrics.nearest_neighbour_radii(x, 5, chunk_size=41)
    assert ours.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def test_float64_radii_agree_with_prdc_to_the_last_bits(rng):
    # OpenBLAS's dgemm rounds an entry differently depending on the matrix shape, and sklearn's
    # threads cut the matrix differently from our chunks: float64 radii may differ by an ulp.
    from prdc.prdc import compute_nearest_neighbour_distances

    x = inception_like(rng, 300, 96)
    expected = compute_nearest_neighbour_distances(x, 5)
    ours = metrics.nearest_neighbour_radii(x, 5, chunk_size=41)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, expected, rtol=1e-13)


def test_identical_sets(rng):
    x = inception_like(rng, 200, 16, dtype=np.float32)
    ours = metrics.prdc(x, x.copy(), k=5)
    expected = _peer(x, x.copy(), 5)
    assert {n: v.value for n, v in ours.items()} == {n: float(v) for n, v in expected.items()}
    assert ours["precision"].value == ours["recall"].value == ours["coverage"].value == 1.0


def test_too_few_samples_for_k(rng):
    with pytest.raises(
        InsufficientSamplesError, match="gen: 5 samples, this metric needs at least 6"
    ):
        metrics.prdc(inception_like(rng, 10, 4), inception_like(rng, 5, 4), k=5)


def test_bad_inputs(rng):
    real = inception_like(rng, 20, 4)
    with pytest.raises(DimensionMismatchError):
        metrics.prdc(real, inception_like(rng, 20, 5))
    with pytest.raises(MetricInputError, match="k must be a positive integer"):
        metrics.prdc(real, real, k=0)
    with pytest.raises(MetricInputError, match="chunk_size"):
        metrics.prdc(real, real, chunk_size=0)
    broken = real.copy()
    broken[3] = np.inf
    with pytest.raises(MetricInputError, match="NaN or inf"):
        metrics.prdc(real, broken)
