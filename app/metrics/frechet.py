"""Fréchet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule").

FID = ||mu1 - mu2||² + tr(S1) + tr(S2) - 2·tr((S1 S2)^½). pytorch-fid and clean-fid take the
matrix square root of the non-symmetric product S1 S2 with scipy's sqrtm (slow, and it returned
complex garbage in SciPy 1.11-1.12). With any factor S2 = B Bᵀ (Cholesky, or eigenvectors scaled
by the square roots of the eigenvalues), S1 S2 is similar to the symmetric positive semi-definite
Bᵀ S1 B, so tr((S1 S2)^½) = Σ sqrt(eig(Bᵀ S1 B)). The reference covariance is factored once
(`prepare_reference`) and reused for every generator; each generator then costs two matrix
products and one eigvalsh. Everything is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from app.metrics._validation import as_features, resolve_seed
from app.metrics.errors import (
    DimensionMismatchError,
    InsufficientSamplesError,
    MetricInputError,
)
from app.metrics.results import MetricValue

# Heusel et al. and clean-fid: FID is biased upward for small N; 10k is the customary minimum.
FID_MIN_SAMPLES = 10_000
# Rows of features turned into float64 at a time when accumulating a covariance.
_COV_CHUNK = 4096


@dataclass(frozen=True, eq=False)
class GaussianStats:
    """Mean and covariance (ddof=1, float64) of a feature set, and how many samples made them."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None = None

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


@dataclass(frozen=True, eq=False)
class PreparedReference:
    """Reference statistics with a factor B of sigma = B Bᵀ.

    Bᵀ S B is similar to S·sigma (and to A S A, A = sigma^½), so tr((sigma·S)^½) needs only the
    eigenvalues of the symmetric Bᵀ S B. A rank-r reference keeps r columns, making later
    products cheaper.
    """

    stats: GaussianStats
    factor: np.ndarray
    trace: float
    rank: int


def _as_stats(mu: object, sigma: object, name: str) -> GaussianStats:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or mu.shape[0] == 0:
        raise MetricInputError(f"{name}: mu must be a non-empty 1-D vector, got shape {mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DimensionMismatchError(
            f"{name}: sigma has shape {sigma.shape} but mu has dimension {mu.shape[0]}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise MetricInputError(f"{name}: mu or sigma contains NaN or inf")
    return GaussianStats(mu, sigma)


def gaussian_stats(features: object) -> GaussianStats:
    """Mean and covariance of features as pytorch-fid computes them (np.cov, ddof=1), in float64."""
    x = as_features(features, "features", min_samples=2)
    n, d = x.shape
    mu = x.mean(axis=0, dtype=np.float64)
    sigma = np.zeros((d, d))
    # Chunked so 50,000 float32 rows never become one 800 MB float64 copy.
    for start in range(0, n, _COV_CHUNK):
        centred = x[start : start + _COV_CHUNK].astype(np.float64) - mu
        sigma += centred.T @ centred
    sigma /= n - 1
    # The accumulation is symmetric up to rounding; eigh must see an exactly symmetric matrix.
    sigma = (sigma + sigma.T) * 0.5
    return GaussianStats(mu, sigma, n)


def prepare_reference(stats: GaussianStats) -> PreparedReference:
    """Factor the reference covariance once; every `fid(..., prepared)` then skips that work.

    Any B with B Bᵀ = sigma will do: a Cholesky factor when sigma is positive definite (a tenth
    of the cost of an eigendecomposition), else V·diag(sqrt λ) over the positive eigenvalues.
    """
    if isinstance(stats, PreparedReference):
        return stats
    if not isinstance(stats, GaussianStats):
        raise MetricInputError(
            f"prepare_reference expects GaussianStats, got {type(stats).__name__}"
        )
    checked = _as_stats(stats.mu, stats.sigma, "reference")
    sigma = (checked.sigma + checked.sigma.T) * 0.5
    try:
        factor = scipy.linalg.cholesky(sigma, lower=True, check_finite=False)
        rank = sigma.shape[0]
    except np.linalg.LinAlgError:
        # Singular, e.g. fewer reference images than dimensions.
        eigenvalues, vectors = scipy.linalg.eigh(sigma, driver="evd")
        # Positive semi-definite: eigenvalues within rounding of zero (either sign) are zero.
        tolerance = max(float(eigenvalues[-1]), 0.0) * sigma.shape[0] * np.finfo(float).eps
        keep = eigenvalues > tolerance
        factor = vectors[:, keep] * np.sqrt(eigenvalues[keep])
        rank = int(keep.sum())
    return PreparedReference(
        stats=GaussianStats(checked.mu, sigma, stats.n),
        factor=np.ascontiguousarray(factor),
        trace=float(np.trace(sigma)),
        rank=rank,
    )


def _trace_sqrt_product(prepared: PreparedReference, sigma: np.ndarray) -> float:
    """tr((S_ref · sigma)^½) = Σ sqrt(eig(Bᵀ sigma B))."""
    b = prepared.factor
    inner = b.T @ sigma @ b
    inner = (inner + inner.T) * 0.5
    eigenvalues = scipy.linalg.eigh(inner, eigvals_only=True, driver="evd")
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def _distance(mu: np.ndarray, sigma: np.ndarray, prepared: PreparedReference) -> float:
    diff = mu - prepared.stats.mu
    value = (
        float(diff @ diff)
        + float(np.trace(sigma))
        + prepared.trace
        - 2.0 * _trace_sqrt_product(prepared, sigma)
    )
    # Mathematically >= 0; a tiny negative value is cancellation when both sets are equal.
    return max(value, 0.0)


def frechet_distance(mu1: object, sigma1: object, mu2: object, sigma2: object) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (pytorch-fid's signature)."""
    first = _as_stats(mu1, sigma1, "first")
    second = _as_stats(mu2, sigma2, "second")
    if first.dim != second.dim:
        raise DimensionMismatchError(
            f"first statistics have dimension {first.dim} but second have dimension {second.dim}"
        )
    sigma = (first.sigma + first.sigma.T) * 0.5
    return _distance(first.mu, sigma, prepare_reference(second))


def _resolve_reference(real: object) -> tuple[PreparedReference, int | None]:
    if isinstance(real, PreparedReference):
        return real, real.stats.n
    if isinstance(real, GaussianStats):
        return prepare_reference(real), real.n
    stats = gaussian_stats(_named(real, "real"))
    return prepare_reference(stats), stats.n


def _named(features: object, name: str) -> np.ndarray:
    try:
        return as_features(features, name, min_samples=2)
    except InsufficientSamplesError as exc:
        raise InsufficientSamplesError(f"{exc} (a covariance needs two samples)") from None


def fid(
    gen: object,
    real: object,
    *,
    bootstrap: int = 0,
    seed: int | None = None,
) -> MetricValue:
    """FID of generated features (or their statistics) against a reference.

    `real` may be features, GaussianStats or a PreparedReference (factor once, reuse for every
    generator). With `bootstrap` > 0 the generated images are resampled with replacement that many
    times (seedable); the 2.5/97.5 percentiles, shifted by the resampling bias, give a 95%
    interval. This needs gen features.
    """
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise MetricInputError(f"bootstrap must be a non-negative integer, got {bootstrap!r}")
    prepared, n_real = _resolve_reference(real)
    features = None
    if isinstance(gen, GaussianStats):
        stats = gen
        _as_stats(stats.mu, stats.sigma, "gen")
    elif isinstance(gen, PreparedReference):
        stats = gen.stats
    else:
        features = _named(gen, "gen")
        stats = gaussian_stats(features)
    if stats.dim != prepared.stats.dim:
        raise DimensionMismatchError(
            f"gen has dimension {stats.dim} but real has dimension {prepared.stats.dim}"
        )
    sigma = (stats.sigma + stats.sigma.T) * 0.5
    value = _distance(stats.mu, sigma, prepared)

    warnings = _sample_warnings(stats.n, n_real, stats.dim)
    parameters: dict = {"dimension": stats.dim, "dtype": "float64"}
    std = ci_low = ci_high = None
    if bootstrap:
        if features is None:
            raise MetricInputError(
                "a bootstrap interval for FID resamples images: pass gen features, not statistics"
            )
        seed = resolve_seed(seed)
        replicates = _bootstrap(features, prepared, bootstrap, seed)
        std = float(replicates.std(ddof=1)) if bootstrap > 1 else 0.0
        # A resample repeats images, which alone raises FID (fewer distinct images), so raw
        # percentiles can miss the point estimate entirely; shift them by that bias.
        bias = float(replicates.mean()) - value
        ci_low, ci_high = (
            max(float(v), 0.0) for v in np.percentile(replicates - bias, [2.5, 97.5])
        )
        parameters.update(
            bootstrap=int(bootstrap),
            seed=seed,
            confidence=0.95,
            interval="bootstrap percentile over generated images, shifted by the bootstrap bias",
            bootstrap_bias=bias,
        )
    return MetricValue(
        metric="fid",
        value=value,
        std=std,
        ci_low=ci_low,
        ci_high=ci_high,
        n_gen=stats.n,
        n_real=n_real,
        parameters=parameters,
        warnings=warnings,
    )


def _sample_warnings(n_gen: int | None, n_real: int | None, dim: int) -> list[str]:
    warnings = []
    for side, n in (("generated", n_gen), ("reference", n_real)):
        if n is None:
            continue
        if n < FID_MIN_SAMPLES:
            warnings.append(
                f"FID on {n} {side} images (< {FID_MIN_SAMPLES:,}) is biased upward; compare FIDs "
                "only at equal N"
            )
        if n < dim:
            warnings.append(
                f"{side} covariance is rank-deficient: {n} images < feature dimension {dim}"
            )
    return warnings


def _bootstrap(
    features: np.ndarray, prepared: PreparedReference, rounds: int, seed: int
) -> np.ndarray:
    """FID of `rounds` resamples of the generated rows.

    Projecting the rows on the reference factor once (Y = X B) turns each round's Bᵀ S_b B into the
    covariance of resampled rows of Y, so a round costs one covariance and one eigvalsh.
    """
    rng = np.random.default_rng(seed)
    n = features.shape[0]
    x = features.astype(np.float64, copy=False)
    projected = x @ prepared.factor
    squares = x * x
    values = np.empty(rounds)
    for r in range(rounds):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        mu = counts @ x / n
        diff = mu - prepared.stats.mu
        trace = float((counts @ squares - n * (mu * mu)).sum() / (n - 1))
        p_mu = counts @ projected / n
        weighted = projected * counts[:, None]
        inner = (projected.T @ weighted - n * np.outer(p_mu, p_mu)) / (n - 1)
        inner = (inner + inner.T) * 0.5
        eigenvalues = scipy.linalg.eigh(inner, eigvals_only=True, driver="evd")
        root = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
        values[r] = max(float(diff @ diff) + trace + prepared.trace - 2.0 * root, 0.0)
    return values


__all__ = [
    "FID_MIN_SAMPLES",
    "GaussianStats",
    "PreparedReference",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "prepare_reference",
]
