"""CLIP score (Hessel et al. 2021, "CLIPScore"): 100 · max(cos(image, text), 0) per image–prompt pair.

Two reductions, named because they differ when some pairs have negative cosine:
"mean_of_clamped" (the default, the paper's per-pair clamp then the mean) and "clamp_of_mean"
(what torchmetrics' CLIPScore returns: the mean of 100·cos, clamped at 0 once).
"""

from __future__ import annotations

import numpy as np

from app.metrics._validation import as_features, check_same_dimension
from app.metrics.errors import MetricInputError
from app.metrics.results import MetricValue

REDUCTIONS = ("mean_of_clamped", "clamp_of_mean")


def unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    """Rows scaled to unit L2 norm in float64; a zero row has no direction and is refused."""
    x = x.astype(np.float64, copy=False)
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise MetricInputError(
            f"{name}: {zero.size} row(s) are all zeros (first: row {int(zero[0])}); "
            "a cosine needs a non-zero embedding"
        )
    return x / norms[:, None]


def cosine_pairs(image_emb: object, text_emb: object) -> np.ndarray:
    """Cosine similarity of each image row with the text row of the same index."""
    image = as_features(image_emb, "image embeddings")
    text = as_features(text_emb, "text embeddings")
    check_same_dimension(image, text, ("image embeddings", "text embeddings"))
    if image.shape[0] != text.shape[0]:
        raise MetricInputError(
            f"CLIP score pairs rows: {image.shape[0]} image embeddings but "
            f"{text.shape[0]} text embeddings"
        )
    return np.einsum(
        "ij,ij->i",
        unit_rows(image, "image embeddings"),
        unit_rows(text, "text embeddings"),
    )


def clip_score(
    image_emb: object, text_emb: object, *, reduction: str = "mean_of_clamped"
) -> MetricValue:
    """CLIP score over paired rows, with the std over pairs and a 95% t-interval for the mean."""
    if reduction not in REDUCTIONS:
        raise MetricInputError(
            f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}"
        )
    scores = 100.0 * cosine_pairs(image_emb, text_emb)
    if reduction == "mean_of_clamped":
        scores = np.maximum(scores, 0.0)
    n = scores.size
    mean = float(scores.mean())
    std = float(scores.std(ddof=1)) if n > 1 else None
    ci_low = ci_high = None
    if n > 1:
        from scipy import stats  # on first use: scipy.stats takes a second to import

        half = float(stats.t.ppf(0.975, n - 1)) * std / np.sqrt(n)
        ci_low, ci_high = mean - half, mean + half
    if reduction == "clamp_of_mean":
        mean = max(mean, 0.0)
        if ci_low is not None:
            ci_low, ci_high = max(ci_low, 0.0), max(ci_high, 0.0)
    return MetricValue(
        metric="clip_score",
        value=mean,
        std=std,
        ci_low=ci_low,
        ci_high=ci_high,
        n_gen=n,
        parameters={
            "reduction": reduction,
            "scale": 100.0,
            "interval": "95% t-interval over image-prompt pairs",
        },
    )
