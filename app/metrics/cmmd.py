"""CMMD (Jayasumana et al. 2024, "Rethinking FID: towards a better evaluation metric for image
generation"): MMD² with a Gaussian RBF kernel on CLIP embeddings.

google-research/cmmd computes scale · (mean k(x,x') + mean k(y,y') - 2 mean k(x,y)) with
k = exp(-|x-y|²/(2σ²)), σ = 10, scale 1000, diagonals included (the biased estimate), on
L2-normalised embeddings, in float32. Here the same formula runs in float64 over row blocks, so
memory stays bounded and the value is not limited to float32's ~3 significant digits.
"""

from __future__ import annotations

import numpy as np

from app.metrics._validation import as_features, check_same_dimension
from app.metrics.clip_score import unit_rows
from app.metrics.errors import MetricInputError
from app.metrics.results import MetricValue

DEFAULT_SIGMA = 10.0
DEFAULT_SCALE = 1000.0
_BLOCK_ROWS = 2048


def _mean_kernel(
    x: np.ndarray, x_norms: np.ndarray, y: np.ndarray, y_norms: np.ndarray, gamma: float
) -> float:
    total = 0.0
    for start in range(0, x.shape[0], _BLOCK_ROWS):
        block = x[start : start + _BLOCK_ROWS]
        squared = block @ y.T
        squared *= -2.0
        squared += x_norms[start : start + _BLOCK_ROWS, None]
        squared += y_norms[None, :]
        squared *= -gamma
        total += float(np.exp(squared, out=squared).sum())
    return total / (x.shape[0] * y.shape[0])


def cmmd(
    gen: object,
    real: object,
    *,
    sigma: float = DEFAULT_SIGMA,
    scale: float = DEFAULT_SCALE,
    normalize: bool = True,
) -> MetricValue:
    """CMMD between generated and real CLIP image embeddings (rows L2-normalised unless told not to)."""
    if not (isinstance(sigma, (int, float)) and np.isfinite(sigma) and sigma > 0):
        raise MetricInputError(f"sigma must be a positive number, got {sigma!r}")
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise MetricInputError(f"scale must be a positive number, got {scale!r}")
    x = as_features(real, "real")
    y = as_features(gen, "gen")
    check_same_dimension(y, x, ("gen", "real"))
    if normalize:
        x, y = unit_rows(x, "real"), unit_rows(y, "gen")
    else:
        x, y = x.astype(np.float64, copy=False), y.astype(np.float64, copy=False)
    # Norms from the matrix diagonal's formula (google-research takes diag(x xᵀ)).
    x_norms = np.einsum("ij,ij->i", x, x)
    y_norms = np.einsum("ij,ij->i", y, y)
    gamma = 1.0 / (2.0 * float(sigma) ** 2)
    value = float(scale) * (
        _mean_kernel(x, x_norms, x, x_norms, gamma)
        + _mean_kernel(y, y_norms, y, y_norms, gamma)
        - 2.0 * _mean_kernel(x, x_norms, y, y_norms, gamma)
    )
    warnings = []
    if min(x.shape[0], y.shape[0]) < 2:
        warnings.append(
            "CMMD from a single image per side is only the kernel distance of two points"
        )
    return MetricValue(
        metric="cmmd",
        value=value,
        n_gen=y.shape[0],
        n_real=x.shape[0],
        parameters={
            "sigma": float(sigma),
            "scale": float(scale),
            "kernel": "gaussian rbf",
            "estimator": "biased (diagonals included, as google-research/cmmd)",
            "l2_normalised": bool(normalize),
            "dtype": "float64",
        },
        warnings=warnings,
    )
