"""Seeded random features for the peer-agreement tests: small shapes, so each test takes well under a second."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def inception_like(
    rng: np.random.Generator, n: int, d: int, shift: float = 0.0, dtype=np.float64
) -> np.ndarray:
    """Non-negative, correlated features (pool3 outputs are averaged ReLUs), optionally shifted."""
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return np.abs(rng.standard_normal((n, d)) @ mixing + shift).astype(dtype)
