"""Within-prompt diversity: mean pairwise cosine similarity of one generator's images per prompt.

High similarity among images for the same prompt signals mode collapse. For a group of unit
vectors e_1..e_n, Σ_{i≠j} e_i·e_j = |Σ e_i|² - n, so each group costs O(n·d), never O(n²).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from app.metrics._validation import as_features
from app.metrics.clip_score import unit_rows
from app.metrics.errors import InsufficientSamplesError, MetricInputError
from app.metrics.results import MetricValue

DEFAULT_BINS = 50
_BLOCK_ROWS = 2048


def _group_rows(groups: Sequence[Hashable | None], n: int) -> dict[Hashable, list[int]]:
    if len(groups) != n:
        raise MetricInputError(f"groups has {len(groups)} labels for {n} feature rows")
    members: dict[Hashable, list[int]] = {}
    for row, label in enumerate(groups):
        if label is not None:
            members.setdefault(label, []).append(row)
    return members


def within_group_similarity(
    features: object, groups: Sequence[Hashable | None]
) -> dict[Hashable, float]:
    """Mean pairwise cosine similarity of each group with at least two rows."""
    x = as_features(features, "features")
    members = _group_rows(groups, x.shape[0])
    unit = unit_rows(x, "features")
    out = {}
    for label, rows in members.items():
        if len(rows) < 2:
            continue
        total = unit[rows].sum(axis=0)
        n = len(rows)
        out[label] = float((total @ total - n) / (n * (n - 1)))
    return out


def diversity(features: object, groups: Sequence[Hashable | None]) -> MetricValue:
    """Mean over groups (prompts) of the within-group mean pairwise cosine similarity.

    Rows labelled None (no prompt) are left out; groups with one image are skipped with a warning.
    Lower is more diverse. The interval is a t-interval over groups.
    """
    x = as_features(features, "features")
    members = _group_rows(groups, x.shape[0])
    per_group = within_group_similarity(x, groups)
    skipped = sum(1 for rows in members.values() if len(rows) < 2)
    if not per_group:
        raise InsufficientSamplesError(
            "diversity needs at least one group (prompt) with two or more images"
        )
    values = np.array(list(per_group.values()))
    mean = float(values.mean())
    std = ci_low = ci_high = None
    if values.size > 1:
        std = float(values.std(ddof=1))
        from scipy import stats  # on first use: scipy.stats takes a second to import

        half = float(stats.t.ppf(0.975, values.size - 1)) * std / np.sqrt(values.size)
        ci_low, ci_high = mean - half, mean + half
    warnings = []
    if skipped:
        warnings.append(f"{skipped} group(s) with a single image skipped: no pair to compare")
    unlabelled = sum(1 for g in groups if g is None)
    if unlabelled:
        warnings.append(f"{unlabelled} image(s) without a group (prompt) left out")
    used = sum(len(members[label]) for label in per_group)
    return MetricValue(
        metric="diversity",
        value=mean,
        std=std,
        ci_low=ci_low,
        ci_high=ci_high,
        n_gen=used,
        parameters={
            "similarity": "cosine",
            "reduction": "mean over groups of the mean pairwise similarity within the group",
            "n_groups": len(per_group),
            "skipped_groups": skipped,
            "min_group_size": int(min(len(members[label]) for label in per_group)),
            "max_group_size": int(max(len(members[label]) for label in per_group)),
        },
        warnings=warnings,
    )


def _pair_distance_blocks(x: np.ndarray):
    """Euclidean distances of every pair i < j, one row block at a time (float64)."""
    norms = np.einsum("ij,ij->i", x, x)
    for start in range(0, x.shape[0] - 1, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, x.shape[0])
        squared = x[start:stop] @ x[start + 1 :].T
        squared *= -2.0
        squared += norms[start:stop, None]
        squared += norms[None, start + 1 :]
        np.maximum(squared, 0.0, out=squared)
        # Row i of the block holds pairs with columns start+1.. ; keep only columns j > i.
        upper = np.triu(np.ones((stop - start, x.shape[0] - start - 1), dtype=bool))
        yield np.sqrt(squared[upper])


def pairwise_distance_histogram(
    features: object, *, bins: int = DEFAULT_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram (counts, bin edges) of Euclidean distances over all pairs of rows.

    A generator that collapses onto few modes piles its mass near zero. Edges span [0, max].
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise MetricInputError(f"bins must be a positive integer, got {bins!r}")
    x = as_features(features, "features", min_samples=2).astype(np.float64, copy=False)
    largest = max(float(block.max()) for block in _pair_distance_blocks(x))
    edges = np.linspace(0.0, largest if largest > 0 else 1.0, int(bins) + 1)
    counts = np.zeros(int(bins), dtype=np.int64)
    for block in _pair_distance_blocks(x):
        counts += np.histogram(block, bins=edges)[0]
    return counts, edges
