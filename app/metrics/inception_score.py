"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs").

IS = exp(E_x[KL(p(y|x) || p(y))]) per split, mean and std (ddof=0) over splits, computed as
torch-fidelity does: float64 softmax of the logits, splits of rows [i·N//s, (i+1)·N//s), and an
optional shuffle with RandomState(seed).permutation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from app.metrics._validation import as_features, resolve_seed
from app.metrics.errors import MetricInputError
from app.metrics.results import MetricValue

DEFAULT_SPLITS = 10
# The customary protocol: 50,000 images in 10 splits of 5,000; smaller splits lower the score.
CUSTOMARY_SPLIT_SIZE = 5000
# Probabilities given directly must sum to one per row within this tolerance.
_PROBABILITY_TOLERANCE = 1e-3


def _log_probabilities(logits: object, probs: object) -> tuple[np.ndarray, str]:
    if (logits is None) == (probs is None):
        raise MetricInputError("pass exactly one of logits or probs")
    if logits is not None:
        x = as_features(logits, "logits", min_samples=1).astype(np.float64, copy=False)
        return log_softmax(x, axis=1), "logits"
    p = as_features(probs, "probs", min_samples=1).astype(np.float64, copy=False)
    if (p < 0).any():
        raise MetricInputError("probs: probabilities must be non-negative")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _PROBABILITY_TOLERANCE)
    if bad.size:
        raise MetricInputError(
            f"probs: {bad.size} row(s) do not sum to 1 (first: row {int(bad[0])} sums to "
            f"{sums[bad[0]]:.6g}); pass logits, or softmax outputs"
        )
    with np.errstate(divide="ignore"):
        return np.log(p / sums[:, None]), "probs"


def inception_score(
    logits: object = None,
    *,
    probs: object = None,
    splits: int = DEFAULT_SPLITS,
    shuffle: bool = False,
    seed: int | None = None,
) -> MetricValue:
    """Inception Score from classifier logits (or class probabilities), mean and std over splits."""
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise MetricInputError(f"splits must be a positive integer, got {splits!r}")
    log_p, source = _log_probabilities(logits, probs)
    n, classes = log_p.shape
    if n < splits:
        raise MetricInputError(f"{n} images cannot fill {splits} splits; use fewer splits")
    parameters: dict = {
        "splits": int(splits),
        "shuffle": bool(shuffle),
        "input": source,
    }
    if shuffle:
        seed = resolve_seed(seed)
        if seed >= 2**32:
            raise MetricInputError(
                f"the shuffle seeds a NumPy RandomState: seed must be below 2**32, got {seed}"
            )
        log_p = log_p[np.random.RandomState(seed).permutation(n)]
        parameters["seed"] = seed
    parameters["classes"] = classes

    p = np.exp(log_p)
    scores = np.empty(splits)
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        p_chunk, log_chunk = p[rows], log_p[rows]
        # 0·log 0 = 0: a class no image in the split predicts adds nothing to the KL.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_marginal = np.log(p_chunk.mean(axis=0))
            terms = np.where(p_chunk > 0, p_chunk * (log_chunk - log_marginal), 0.0)
        scores[i] = np.exp(terms.sum(axis=1).mean())

    warnings = []
    if n // splits < CUSTOMARY_SPLIT_SIZE:
        warnings.append(
            f"Inception Score on splits of {n // splits} images; the customary protocol uses "
            f"splits of {CUSTOMARY_SPLIT_SIZE:,} (50,000 images, 10 splits), and smaller splits "
            "give lower scores"
        )
    return MetricValue(
        metric="inception_score",
        value=float(scores.mean()),
        std=float(scores.std()),
        n_gen=n,
        parameters=parameters,
        warnings=warnings,
    )
