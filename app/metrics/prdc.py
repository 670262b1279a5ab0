"""Precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models"); density and coverage (Naeem et al. 2020, "Reliable fidelity and
diversity metrics for generative models").

Each real (generated) image gets a ball whose radius is the distance to its k-th nearest real
(generated) neighbour, itself excluded. Precision: share of generated images inside some real
ball; recall: share of real images inside some generated ball; density: mean number of real balls
holding a generated image, over k; coverage: share of real balls holding a generated image.

The numbers equal the prdc package's `compute_prdc`, which builds three full distance matrices
with sklearn's `pairwise_distances` (about 30 GB for 50,000 × 50,000). Here the rows are streamed
in chunks with exact nearest neighbours and sklearn's arithmetic: squared norms with einsum on
float64 rows, d² = -2·x·y + |x|² + |y|² in float64, cast to float32 when both inputs are float32,
clipped at 0, square root, and the strict comparison d < radius.
"""

from __future__ import annotations

import numpy as np

from app.metrics._validation import as_features, check_same_dimension
from app.metrics.errors import MetricInputError
from app.metrics.results import MetricValue

DEFAULT_K = 5
PRDC_NAMES = ("precision", "recall", "density", "coverage")
# Bytes of one float64 distance chunk; bounds memory whatever the set sizes.
_CHUNK_BYTES = 64 * 2**20


def _chunk_rows(n_columns: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return chunk_size
    return int(max(64, min(4096, _CHUNK_BYTES // (8 * max(n_columns, 1)))))


def _squared_norms(x: np.ndarray, rows: int) -> np.ndarray:
    """Row norms as sklearn's row_norms computes them: einsum over float64 rows."""
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], rows):
        block = x[start : start + rows].astype(np.float64)
        out[start : start + rows] = np.einsum("ij,ij->i", block, block)
    return out


class _Side:
    """One feature set with its float64 squared norms, and its rows served as float64 blocks."""

    def __init__(self, features: np.ndarray, rows: int) -> None:
        self.x = features
        self.float32 = features.dtype == np.float32
        self.norms = _squared_norms(features, rows)
        self.n = features.shape[0]

    def block(self, start: int, stop: int) -> np.ndarray:
        return self.x[start:stop].astype(np.float64)


def _distances(
    a: np.ndarray,
    a_norms: np.ndarray,
    b: np.ndarray,
    b_norms: np.ndarray,
    float32: bool,
) -> np.ndarray:
    """Euclidean distances between float64 row blocks, rounded the way sklearn rounds them."""
    squared = a @ b.T
    squared *= -2.0
    squared += a_norms[:, None]
    squared += b_norms[None, :]
    if float32:
        squared = squared.astype(np.float32)
    np.maximum(squared, 0, out=squared)
    return np.sqrt(squared, out=squared)


def _all_columns(side: _Side, rows: int) -> np.ndarray:
    return side.block(0, side.n)


def nearest_neighbour_radii(
    features: object, k: int = DEFAULT_K, *, chunk_size: int | None = None
) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (prdc's radii), exact."""
    x = as_features(features, "features", min_samples=k + 1)
    rows = _chunk_rows(x.shape[0], chunk_size)
    return _radii(_Side(x, rows), k, rows)


def _radii(side: _Side, k: int, rows: int) -> np.ndarray:
    dtype = np.float32 if side.float32 else np.float64
    radii = np.empty(side.n, dtype=dtype)
    columns = _all_columns(side, rows)
    for start in range(0, side.n, rows):
        stop = min(start + rows, side.n)
        d = _distances(
            side.block(start, stop),
            side.norms[start:stop],
            columns,
            side.norms,
            side.float32,
        )
        # sklearn zeroes the diagonal; the (k+1)-th smallest then is the k-th neighbour.
        d[np.arange(stop - start), np.arange(start, stop)] = 0
        radii[start:stop] = np.partition(d, k, axis=1)[:, k]
    return radii


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MetricInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def prdc(
    real: object, gen: object, *, k: int = DEFAULT_K, chunk_size: int | None = None
) -> dict[str, MetricValue]:
    """Precision, recall, density and coverage of `gen` against `real` with k-NN balls."""
    k = _check_k(k)
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise MetricInputError(
            f"chunk_size must be a positive integer, got {chunk_size!r}"
        )
    real_x = as_features(real, "real", min_samples=k + 1)
    gen_x = as_features(gen, "gen", min_samples=k + 1)
    check_same_dimension(real_x, gen_x, ("real", "gen"))
    rows = _chunk_rows(max(real_x.shape[0], gen_x.shape[0]), chunk_size)
    real_side = _Side(real_x, rows)
    gen_side = _Side(gen_x, rows)
    real_radii = _radii(real_side, k, rows)
    gen_radii = _radii(gen_side, k, rows)

    both_float32 = real_side.float32 and gen_side.float32
    inside_real_ball = np.zeros(gen_side.n, dtype=bool)
    real_balls_per_gen = np.zeros(gen_side.n, dtype=np.int64)
    covered = np.empty(real_side.n, dtype=bool)
    recalled = np.empty(real_side.n, dtype=bool)
    columns = _all_columns(gen_side, rows)
    for start in range(0, real_side.n, rows):
        stop = min(start + rows, real_side.n)
        d = _distances(
            real_side.block(start, stop),
            real_side.norms[start:stop],
            columns,
            gen_side.norms,
            both_float32,
        )
        below = d < real_radii[start:stop, None]
        inside_real_ball |= below.any(axis=0)
        real_balls_per_gen += below.sum(axis=0)
        covered[start:stop] = below.any(axis=1)
        recalled[start:stop] = (d < gen_radii[None, :]).any(axis=1)

    values = {
        "precision": inside_real_ball.mean(),
        "recall": recalled.mean(),
        # prdc's arithmetic, kept so the float64 result is bit-identical.
        "density": (1.0 / float(k)) * real_balls_per_gen.mean(),
        "coverage": covered.mean(),
    }
    parameters = {"k": k, "nearest_neighbours": "exact", "distance": "euclidean"}
    return {
        name: MetricValue(
            metric=name,
            value=float(values[name]),
            n_gen=gen_side.n,
            n_real=real_side.n,
            parameters=dict(parameters),
        )
        for name in PRDC_NAMES
    }
