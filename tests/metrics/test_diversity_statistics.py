"""Per-prompt diversity, the distance histogram, and the .npz statistics layout of pytorch-fid/clean-fid."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from app import metrics
from app.metrics import InsufficientSamplesError, MetricInputError, StatisticsFileError


def _brute_force_similarity(x, rows):
    pairs = list(itertools.combinations(rows, 2))
    return np.mean([x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]) for i, j in pairs])


def test_diversity_is_the_mean_over_groups_of_pairwise_cosine(rng):
    x = rng.standard_normal((30, 6))
    groups = ["a"] * 8 + ["b"] * 12 + [None] * 3 + ["c"] + ["d"] * 6
    result = metrics.diversity(x, groups)
    per_group = [
        _brute_force_similarity(x, [i for i, g in enumerate(groups) if g == label])
        for label in ("a", "b", "d")
    ]
    assert result.value == pytest.approx(np.mean(per_group), rel=1e-12)
    assert result.std == pytest.approx(np.std(per_group, ddof=1), rel=1e-9)
    assert result.parameters["n_groups"] == 3 and result.parameters["skipped_groups"] == 1
    assert result.n_gen == 26
    assert any("single image" in w for w in result.warnings)
    assert any("3 image(s) without a group" in w for w in result.warnings)


def test_collapsed_generator_has_similarity_one(rng):
    base = rng.standard_normal(5)
    collapsed = np.tile(base, (6, 1)) * np.arange(1, 7)[:, None]
    assert metrics.diversity(collapsed, ["p"] * 6).value == pytest.approx(1.0)


def test_diversity_needs_a_pair(rng):
    with pytest.raises(InsufficientSamplesError, match="two or more images"):
        metrics.diversity(rng.standard_normal((3, 4)), ["a", "b", None])
    with pytest.raises(MetricInputError, match="2 labels for 3 feature rows"):
        metrics.diversity(rng.standard_normal((3, 4)), ["a", "a"])


def test_pairwise_distance_histogram_counts_every_pair_once(rng, monkeypatch):
    monkeypatch.setattr(sys.modules["app.metrics.diversity"], "_BLOCK_ROWS", 4)
    x = rng.standard_normal((25, 3))
    counts, edges = metrics.pairwise_distance_histogram(x, bins=7)
    distances = [np.linalg.norm(x[i] - x[j]) for i, j in itertools.combinations(range(25), 2)]
    assert counts.sum() == 300 and edges[0] == 0 and edges[-1] == pytest.approx(max(distances))
    np.testing.assert_array_equal(counts, np.histogram(distances, bins=edges)[0])


def test_statistics_round_trip_and_pytorch_fid_reads_them(rng, tmp_path):
    from pytorch_fid.fid_score import compute_statistics_of_path

    x = rng.standard_normal((50, 4)).astype(np.float32)
    stats = metrics.gaussian_stats(x)
    path = tmp_path / "reference"  # no suffix: written exactly there, not to reference.npz
    metrics.save_statistics(path, stats, x)
    loaded, features = metrics.load_statistics(path)
    np.testing.assert_array_equal(loaded.mu, stats.mu)
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    np.testing.assert_array_equal(features, x)
    assert loaded.n == 50 and features.dtype == np.float32
    npz = tmp_path / "reference.npz"
    path.rename(npz)
    mu, sigma = compute_statistics_of_path(str(npz), model=None, batch_size=1, dims=4, device="cpu")
    np.testing.assert_array_equal(mu, stats.mu)
    np.testing.assert_array_equal(sigma, stats.sigma)


def test_clean_fid_style_files_load_without_features(rng, tmp_path):
    path = tmp_path / "cleanfid.npz"
    np.savez_compressed(path, mu=np.zeros(3), sigma=np.eye(3))
    stats, features = metrics.load_statistics(path)
    assert features is None and stats.n is None and stats.dim == 3


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"mu": np.zeros(3)}, "missing array\\(s\\) sigma; found mu"),
        (
            {"mu": np.zeros(3), "sigma": np.eye(4)},
            "sigma has shape \\(4, 4\\) but mu has dimension 3",
        ),
        ({"mu": np.full(2, np.nan), "sigma": np.eye(2)}, "NaN or inf"),
        (
            {"mu": np.zeros(2), "sigma": np.eye(2), "features": np.ones((5, 3))},
            "features of shape \\(5, 3\\)",
        ),
        ({"mu": np.zeros((2, 2)), "sigma": np.eye(2)}, "1-D vector"),
    ],
)
def test_inconsistent_files_are_refused(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(StatisticsFileError, match=message):
        metrics.load_statistics(path)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(StatisticsFileError, match="no such file"):
        metrics.load_statistics(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive")
    with pytest.raises(StatisticsFileError, match="not a readable"):
        metrics.load_statistics(garbage)
    single = tmp_path / "features.npy"
    np.save(single, np.ones((3, 2)))
    with pytest.raises(StatisticsFileError, match="single array"):
        metrics.load_statistics(single)
    with pytest.raises(StatisticsFileError, match="do not match statistics of dimension 2"):
        metrics.save_statistics(
            tmp_path / "x.npz",
            metrics.GaussianStats(np.zeros(2), np.eye(2)),
            np.ones((3, 5)),
        )
    assert not list(tmp_path.glob(".x.npz.*"))
