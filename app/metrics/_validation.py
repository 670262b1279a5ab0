"""Input checks shared by every metric: 2-D, finite, numeric arrays of matching dimension."""

from __future__ import annotations

import numpy as np

from app.metrics.errors import (
    DimensionMismatchError,
    InsufficientSamplesError,
    MetricInputError,
)


def as_features(array: object, name: str, *, min_samples: int = 1) -> np.ndarray:
    """Return `array` as a 2-D (samples, dimension) float array, refusing anything else.

    float32 and float64 keep their dtype (PRDC must reproduce sklearn's dtype-dependent
    arithmetic); integers and float16 become float64.
    """
    features = np.asarray(array)
    if features.ndim != 2:
        raise MetricInputError(
            f"{name}: expected a 2-D (samples, dimension) array, got shape {features.shape}"
        )
    if features.dtype.kind not in "fiub":
        raise MetricInputError(f"{name}: expected a numeric array, got dtype {features.dtype}")
    if features.dtype not in (np.float32, np.float64):
        features = features.astype(np.float64)
    if features.shape[1] == 0:
        raise MetricInputError(f"{name}: features have dimension 0")
    if features.shape[0] < min_samples:
        raise InsufficientSamplesError(
            f"{name}: {features.shape[0]} samples, this metric needs at least {min_samples}"
        )
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise MetricInputError(
            f"{name}: {bad.size} row(s) contain NaN or inf (first: row {int(bad[0])})"
        )
    return features


def check_same_dimension(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise DimensionMismatchError(
            f"{names[0]} has dimension {a.shape[-1]} but {names[1]} has dimension {b.shape[-1]}"
        )


def resolve_seed(seed: int | None) -> int:
    """A concrete seed to store with a result: the one given, or a fresh one drawn from the OS."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MetricInputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
