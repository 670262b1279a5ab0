"""Precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models"); density and coverage (Naeem et al. 2020, "Reliable fidelity and
diversity metrics for generative models").

Each real (generated) image gets a ball whose radius is the distance to its k-th nearest real
(generated) neighbour, itself excluded. Precision: share of generated images inside some real
ball; recall: share of real images inside some generated ball; density: mean number of real balls
holding a generated image, over k; coverage: share of real balls holding a generated image.

The numbers equal the prdc package's `compute_prdc`, which builds three full distance matrices
with sklearn's `pairwise_distances` (about 30 GB for 50,000 × 50,000). Its arithmetic is
reproduced: squared norms by einsum over float64 rows, d² = (-2·x·y + |x|²) + |y|² in float64,
cast to float32 when both sides are float32, clipped at 0, square root, strict d < radius.

Speed and memory: rows are streamed in chunks, and each chunk's squared distances are first
screened with one float32 matrix product (an augmented one, [x, |x|², 1]·[-2y, 1, |y|²], so no
elementwise pass is needed). Its rounding error has a proven bound (Higham's γ_n for dot
products): a decision (is this the k-th neighbour? is d < radius?) that the bound cannot settle
is recomputed exactly in float64 the way sklearn computes it. Exact neighbours, exact decisions;
the float64 work shrinks to the few pairs within the bound of a threshold.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from app.metrics._validation import as_features, check_same_dimension, resolve_seed
from app.metrics.errors import MetricInputError
from app.metrics.results import MetricValue

DEFAULT_K = 5
PRDC_NAMES = ("precision", "recall", "density", "coverage")
# Bytes of one chunk of float32 screening distances; bounds memory whatever the set sizes.
_CHUNK_BYTES = 96 * 2**20
# Rows of the first chunk, whose k-th nearest point gives every row a loose neighbour limit.
_THRESHOLD_ROWS = 1024
# Pairs recomputed exactly per batch (two float64 rows each).
_EXACT_BATCH = 4096
_U32 = 2.0**-24
# float32 rounding of a distance and of its square root moves it by < 2^-23 relative; decisions
# closer than this to a radius are recomputed exactly.
_ROUNDING_MARGIN = 2.0**-19


def _chunk_rows(n_columns: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return int(chunk_size)
    return int(max(64, min(2048, _CHUNK_BYTES // (4 * max(n_columns, 1)))))


class _Side:
    """One feature set: float64 squared norms (sklearn's row_norms), float32 screening copies."""

    def __init__(self, features: np.ndarray, rows: int) -> None:
        self.x = features
        self.n, self.dim = features.shape
        self.float32 = features.dtype == np.float32
        self.norms = np.empty(self.n)
        # Columns of the screening product: [-2y, 1, |y|²] in float32 (-2 is an exact scaling).
        self.columns = np.empty((self.n, self.dim + 2), dtype=np.float32)
        for start in range(0, self.n, rows):
            block = features[start : start + rows].astype(np.float64)
            norms = np.einsum("ij,ij->i", block, block)
            self.norms[start : start + rows] = norms
            self.columns[start : start + rows, : self.dim] = block * -2.0
        self.columns[:, self.dim] = 1.0
        self.columns[:, self.dim + 1] = self.norms
        self.max_norm = float(self.norms.max())

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows of the screening product: [x, |x|², 1] in float32."""
        out = np.empty((stop - start, self.dim + 2), dtype=np.float32)
        out[:, : self.dim] = self.x[start:stop]
        out[:, self.dim] = self.norms[start:stop]
        out[:, self.dim + 1] = 1.0
        return out


def _error_factor(dim: int) -> float:
    """β with |screened d² - exact d²| <= β·(|x|² + |y|²) for every pair.

    The float32 product of K = dim + 2 terms errs by at most γ_K·Σ|terms| (any summation order;
    Higham, Accuracy and Stability of Numerical Algorithms, §3.1), and Σ|terms| <= 2(|x|² + |y|²)
    by Cauchy–Schwarz; rounding the inputs and norms to float32 adds 3u. Margin 1% on top.
    """
    k = dim + 2
    gamma = k * _U32 / (1 - k * _U32)
    return 1.01 * (2 * gamma + 3 * _U32 + 2 * 2.0**-50 * k)


def _exact_squared(a: _Side, b: _Side, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """sklearn's float64 d² = (-2·x·y + |x|²) + |y|² for the listed pairs."""
    out = np.empty(rows.size)
    for start in range(0, rows.size, _EXACT_BATCH):
        r = rows[start : start + _EXACT_BATCH]
        c = cols[start : start + _EXACT_BATCH]
        dots = np.einsum("ij,ij->i", a.x[r].astype(np.float64), b.x[c].astype(np.float64))
        out[start : start + _EXACT_BATCH] = (dots * -2.0 + a.norms[r]) + b.norms[c]
    return out


def _to_distance(squared: np.ndarray, float32: bool) -> np.ndarray:
    """sklearn's rounding: float32 cast (both sides float32), clip at 0, square root."""
    if float32:
        squared = squared.astype(np.float32)
    return np.sqrt(np.maximum(squared, 0))


def _kth_per_row(
    row_ids: np.ndarray, values: np.ndarray, rank: np.ndarray, n_rows: int
) -> np.ndarray:
    """values' rank[r]-th smallest (1-based) within each row r (every row has enough entries)."""
    order = np.lexsort((values, row_ids))
    starts = np.concatenate(([0], np.cumsum(np.bincount(row_ids, minlength=n_rows))[:-1]))
    return values[order][starts + rank - 1]


def _hits(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.nonzero of a sparse 2-D mask, ~5x faster: scan it 8 booleans (one uint64) at a time."""
    flat = mask.reshape(-1)
    whole = flat.size - flat.size % 8
    words = np.flatnonzero(flat[:whole].view(np.uint64))
    found = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    found = found[flat[found]]
    if whole < flat.size:
        found = np.concatenate((found, whole + np.flatnonzero(flat[whole:])))
    return np.divmod(found, mask.shape[1])


def _radii(side: _Side, k: int, rows: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row, exactly as prdc's radii.

    sklearn zeroes the diagonal and prdc takes the (k+1)-th smallest; with the diagonal 0 that is
    the k-th smallest over the other rows.

    Distances are symmetric, so only the upper triangle of row chunks is multiplied (half of
    prdc's product) and each screened pair serves both of its rows. The first chunk, against
    every column, gives each row a loose upper limit for its k-th smallest screened value (the
    k-th smallest over the first chunk's points); a pair above both rows' limits is dropped.
    """
    beta = _error_factor(side.dim)
    n = side.n
    bound = beta * (side.norms + side.max_norm)
    first = min(n, max(rows, k + 1, _THRESHOLD_ROWS))
    limits = np.empty(n, dtype=np.float32)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    start = 0
    while start < n:
        stop = min(start + (first if start == 0 else rows), n)
        count = stop - start
        block = side.rows(start, stop) @ side.columns[start:].T
        local = np.arange(count)
        block[local, local] = np.inf
        if start == 0:
            # Any column subset's k-th smallest is >= the k-th smallest over all columns.
            own = np.partition(block[:, :count], k - 1, axis=1)[:, k - 1]
            limits[:count] = _float32_above(own + 2 * bound[:count])
            if stop < n:
                others = np.partition(np.ascontiguousarray(block[:, count:].T), k - 1, axis=1)[
                    :, k - 1
                ]
                limits[stop:] = _float32_above(others + 2 * bound[stop:])
        # Pairs (row of this chunk, point at or after it), for the chunk's rows.
        r, c = _hits(block <= limits[start:stop, None])
        found.append((r + start, c + start, block[r, c]))
        # The same pairs beyond the diagonal block, for the later point's row.
        if stop < n:
            tail = block[:, count:]
            r, c = _hits(tail <= limits[None, stop:])
            found.append((c + stop, r + start, tail[r, c]))
        start = stop

    r = np.concatenate([f[0] for f in found])
    c = np.concatenate([f[1] for f in found])
    values = np.concatenate([f[2] for f in found]).astype(np.float64)
    # a_k: the k-th smallest screened value; the exact k-th lies in [a_k - B, a_k + B].
    a_k = _kth_per_row(r, values, np.full(n, k), n)
    below = values < a_k[r] - 2 * bound[r]
    near = ~below & (values <= a_k[r] + 2 * bound[r])
    needed = k - np.bincount(r[below], minlength=n)
    exact = _to_distance(_exact_squared(side, side, r[near], c[near]), side.float32)
    radii = _kth_per_row(r[near], exact.astype(np.float64), needed, n)
    return radii.astype(np.float32 if side.float32 else np.float64)


def _float32_above(values: np.ndarray) -> np.ndarray:
    """float32 thresholds not below the float64 ones, so a float32 comparison never drops a pair."""
    out = values.astype(np.float32)
    low = out.astype(np.float64) < values
    out[low] = np.nextafter(out[low], np.float32(np.inf))
    return out


def nearest_neighbour_radii(
    features: object, k: int = DEFAULT_K, *, chunk_size: int | None = None
) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (prdc's radii), exact."""
    k = _check_k(k)
    x = as_features(features, "features", min_samples=k + 1)
    rows = _chunk_rows(x.shape[0], _check_chunk(chunk_size))
    return _radii(_Side(x, rows), k, rows)


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MetricInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_chunk(chunk_size: object) -> int | None:
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise MetricInputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return chunk_size


def _inside(
    values: np.ndarray,
    low: np.ndarray,
    exact_pairs,
    radii: np.ndarray,
) -> np.ndarray:
    """Which screened pairs satisfy d < radius: settled by the bound, or recomputed exactly."""
    inside = values < low
    unsure = np.flatnonzero(~inside)
    if unsure.size:
        inside[unsure] = exact_pairs(unsure) < radii[unsure]
    return inside


def prdc(
    real: object,
    gen: object,
    *,
    k: int = DEFAULT_K,
    chunk_size: int | None = None,
    bootstrap: int = 0,
    seed: int | None = None,
) -> dict[str, MetricValue]:
    """Precision, recall, density and coverage of `gen` against `real` with k-NN balls.

    With `bootstrap` > 0, 95% intervals: real and generated images are resampled with
    replacement that many times (seedable) with every ball's radius held at its full-set value
    (a duplicated image would otherwise be its own nearest neighbour), and each round's four
    numbers are read off the ball memberships found once. The percentiles are shifted by the
    bootstrap bias (a resample holds ~63% distinct images), so the interval is centred on the
    estimate and describes the spread from which images were drawn.
    """
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise MetricInputError(f"bootstrap must be a non-negative integer, got {bootstrap!r}")
    k = _check_k(k)
    chunk_size = _check_chunk(chunk_size)
    real_x = as_features(real, "real", min_samples=k + 1)
    gen_x = as_features(gen, "gen", min_samples=k + 1)
    check_same_dimension(real_x, gen_x, ("real", "gen"))
    real_side = _Side(real_x, _chunk_rows(real_x.shape[0], chunk_size))
    gen_side = _Side(gen_x, _chunk_rows(gen_x.shape[0], chunk_size))
    real_radii = _radii(real_side, k, _chunk_rows(real_side.n, chunk_size))
    gen_radii = _radii(gen_side, k, _chunk_rows(gen_side.n, chunk_size))

    both_float32 = real_side.float32 and gen_side.float32
    beta = _error_factor(real_side.dim)
    # In squared distance: inside for sure below `low`, outside for sure above `high`.
    real_sq = real_radii.astype(np.float64) ** 2
    gen_sq = gen_radii.astype(np.float64) ** 2
    real_bound = beta * (real_side.norms + gen_side.max_norm)
    gen_bound = beta * (real_side.max_norm + gen_side.norms)
    real_low = real_sq * (1 - _ROUNDING_MARGIN) - real_bound
    real_high = _float32_above(real_sq * (1 + _ROUNDING_MARGIN) + real_bound)
    gen_low = gen_sq * (1 - _ROUNDING_MARGIN) - gen_bound
    gen_high = _float32_above(gen_sq * (1 + _ROUNDING_MARGIN) + gen_bound)

    inside_real_ball = np.zeros(gen_side.n, dtype=bool)
    real_balls_per_gen = np.zeros(gen_side.n, dtype=np.int64)
    covered = np.zeros(real_side.n, dtype=bool)
    recalled = np.zeros(real_side.n, dtype=bool)
    # (real, gen) pairs: gen inside the real ball, real inside the gen ball (for the bootstrap).
    in_real_ball: list[tuple[np.ndarray, np.ndarray]] = []
    in_gen_ball: list[tuple[np.ndarray, np.ndarray]] = []
    rows = _chunk_rows(gen_side.n, chunk_size)
    for start in range(0, real_side.n, rows):
        stop = min(start + rows, real_side.n)
        screened = real_side.rows(start, stop) @ gen_side.columns.T

        def exact(r: np.ndarray, c: np.ndarray, start: int = start):
            return lambda picked: _to_distance(
                _exact_squared(real_side, gen_side, r[picked] + start, c[picked]),
                both_float32,
            )

        # Generated images inside real balls: precision, density, coverage.
        r, c = _hits(screened <= real_high[start:stop, None])
        hit = _inside(
            screened[r, c].astype(np.float64),
            real_low[r + start],
            exact(r, c),
            real_radii[r + start],
        )
        r, c = r[hit], c[hit]
        inside_real_ball[c] = True
        real_balls_per_gen += np.bincount(c, minlength=gen_side.n)
        covered[r + start] = True
        if bootstrap:
            in_real_ball.append((r + start, c))
        # Real images inside generated balls: recall.
        r, c = _hits(screened <= gen_high[None, :])
        hit = _inside(screened[r, c].astype(np.float64), gen_low[c], exact(r, c), gen_radii[c])
        recalled[r[hit] + start] = True
        if bootstrap:
            in_gen_ball.append((r[hit] + start, c[hit]))

    values = {
        "precision": inside_real_ball.mean(),
        "recall": recalled.mean(),
        # prdc's arithmetic, kept so the float64 result is bit-identical.
        "density": (1.0 / float(k)) * real_balls_per_gen.mean(),
        "coverage": covered.mean(),
    }
    parameters: dict = {"k": k, "nearest_neighbours": "exact", "distance": "euclidean"}
    intervals: dict[str, tuple[float, float, float]] = {}
    if bootstrap:
        seed = resolve_seed(seed)
        replicates = _bootstrap(
            _membership(in_real_ball, real_side.n, gen_side.n),
            _membership(in_gen_ball, real_side.n, gen_side.n),
            k,
            bootstrap,
            seed,
        )
        for name in PRDC_NAMES:
            draws = replicates[name]
            bias = float(draws.mean()) - float(values[name])
            low, high = np.percentile(draws - bias, [2.5, 97.5])
            std = float(draws.std(ddof=1)) if bootstrap > 1 else 0.0
            high = float(high) if name == "density" else min(float(high), 1.0)
            intervals[name] = (std, max(float(low), 0.0), high)
        parameters.update(
            bootstrap=int(bootstrap),
            seed=seed,
            confidence=0.95,
            interval=(
                "bootstrap over real and generated images, radii fixed, percentile interval "
                "shifted by the bootstrap bias"
            ),
        )
    return {
        name: MetricValue(
            metric=name,
            value=float(values[name]),
            std=intervals[name][0] if intervals else None,
            ci_low=intervals[name][1] if intervals else None,
            ci_high=intervals[name][2] if intervals else None,
            n_gen=gen_side.n,
            n_real=real_side.n,
            parameters=dict(parameters),
        )
        for name in PRDC_NAMES
    }


def _membership(pairs: list[tuple[np.ndarray, np.ndarray]], n_real: int, n_gen: int):
    """Sparse real x gen 0/1 matrix of the listed pairs (about k entries per image)."""
    rows = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    cols = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    return scipy.sparse.csr_matrix(
        (np.ones(rows.size), (rows, cols)), shape=(n_real, n_gen), dtype=np.float64
    )


def _bootstrap(within_real, within_gen, k: int, rounds: int, seed: int) -> dict[str, np.ndarray]:
    """PRDC of `rounds` resamples, from the fixed-radius memberships.

    within_real[i, j] = 1: generated j lies in real i's ball; within_gen[i, j] = 1: real i lies in
    generated j's ball. Counts a (real) and c (generated) weight each image by how often it was
    drawn.
    """
    rng = np.random.default_rng(seed)
    n_real, n_gen = within_real.shape
    by_gen = within_real.T.tocsr()
    out = {name: np.empty(rounds) for name in PRDC_NAMES}
    for r in range(rounds):
        a = np.bincount(rng.integers(0, n_real, size=n_real), minlength=n_real).astype(float)
        c = np.bincount(rng.integers(0, n_gen, size=n_gen), minlength=n_gen).astype(float)
        balls_per_gen = by_gen @ a
        out["precision"][r] = c @ (balls_per_gen > 0) / n_gen
        out["density"][r] = c @ balls_per_gen / (k * n_gen)
        out["coverage"][r] = a @ ((within_real @ c) > 0) / n_real
        out["recall"][r] = a @ ((within_gen @ c) > 0) / n_real
    return out
