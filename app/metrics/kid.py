"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

The unbiased MMD² estimate with the cubic polynomial kernel k(x, y) = (x·y/d + 1)³, averaged
over random subsets; mean and standard deviation over subsets are reported, in float64. Subsets
are drawn exactly as torch-fidelity draws them (a RandomState seeded with `seed`, generated rows
first, then real rows, without replacement), so the same seed gives the same subsets.

Two evaluations, same numbers: a kernel matrix per subset, or, when the sets are small next to
subsets·m², one pass over the full kernel matrices with every subset's sums taken as quadratic
forms of 0/1 indicator vectors (each kernel entry is computed once, not once per subset).
"""

from __future__ import annotations

import numpy as np

from app.metrics._validation import as_features, check_same_dimension, resolve_seed
from app.metrics.errors import MetricInputError
from app.metrics.results import MetricValue

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000
# Rows of a kernel block when the full kernel matrices are streamed (32 MB per 2048 x 2048).
_BLOCK_ROWS = 2048


def _kernel_sums(x: np.ndarray, y: np.ndarray | None) -> tuple[float, float]:
    """(sum of all entries, sum of the diagonal) of the polynomial kernel matrix k(x, y).

    With y None the matrix is k(x, x), computed with a symmetric product (BLAS syrk).
    """
    gram = x @ (x.T if y is None else y.T)
    kernel = gram
    kernel *= 1.0 / x.shape[1]
    kernel += 1.0
    total = float(np.einsum("ij,ij,ij->", kernel, kernel, kernel))
    diagonal = np.diagonal(kernel)
    return total, float(np.einsum("i,i,i->", diagonal, diagonal, diagonal))


def mmd2_unbiased(x: object, y: object) -> float:
    """Unbiased MMD² between two equally sized samples with the KID polynomial kernel.

    Same estimator as torch-fidelity's `mmd2(..., mmd_est="unbiased")`: the within-set sums drop
    the diagonal, the cross term keeps it.
    """
    x = as_features(x, "x", min_samples=2).astype(np.float64, copy=False)
    y = as_features(y, "y", min_samples=2).astype(np.float64, copy=False)
    check_same_dimension(x, y, ("x", "y"))
    if x.shape[0] != y.shape[0]:
        raise MetricInputError(
            f"the unbiased KID estimate needs equal sample sizes, got {x.shape[0]} and {y.shape[0]}"
        )
    return _mmd2(x, y)


def _mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m = x.shape[0]
    xx_total, xx_diag = _kernel_sums(x, None)
    yy_total, yy_diag = _kernel_sums(y, None)
    xy_total, _ = _kernel_sums(x, y)
    return (xx_total - xx_diag + yy_total - yy_diag) / (m * (m - 1)) - 2.0 * xy_total / (m * m)


def kid_subset_indices(
    n_gen: int, n_real: int, subsets: int, subset_size: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (gen rows, real rows) of every subset, drawn in torch-fidelity's order."""
    rng = np.random.RandomState(seed)
    return [
        (
            rng.choice(n_gen, subset_size, replace=False),
            rng.choice(n_real, subset_size, replace=False),
        )
        for _ in range(subsets)
    ]


def kid(
    gen: object,
    real: object,
    *,
    subsets: int = DEFAULT_SUBSETS,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    seed: int | None = None,
) -> MetricValue:
    """KID: mean and std (ddof=0, as torch-fidelity) of the unbiased MMD² over random subsets.

    A subset size larger than either set is capped at HALF the smaller set, with a warning:
    capped at the whole set, every "subset" would be the same images and the std a meaningless
    0. When the spread still cannot be estimated (one subset, or subsets that are whole sets),
    std is None and the parameters and warnings say "no spread" and why.
    """
    for name, number in (("subsets", subsets), ("subset_size", subset_size)):
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
            raise MetricInputError(f"{name} must be a positive integer, got {number!r}")
    gen_x = as_features(gen, "gen", min_samples=2)
    real_x = as_features(real, "real", min_samples=2)
    check_same_dimension(gen_x, real_x, ("gen", "real"))
    seed = resolve_seed(seed)
    if seed >= 2**32:
        raise MetricInputError(
            f"KID seeds a NumPy RandomState: seed must be below 2**32, got {seed}"
        )

    warnings = []
    n_gen, n_real = gen_x.shape[0], real_x.shape[0]
    size = int(subset_size)
    smaller = min(n_gen, n_real)
    if size > smaller:
        size = max(2, smaller // 2)
        warnings.append(
            f"KID subset size capped at {size}, half the smaller set (requested "
            f"{int(subset_size)}; {n_gen} generated and {n_real} real images), so that "
            "subsets differ and their spread means something"
        )
    if size < 2:
        raise MetricInputError("KID needs at least 2 images per subset")
    draws = kid_subset_indices(n_gen, n_real, int(subsets), size, seed)
    values = kid_from_subsets(gen_x, real_x, draws)
    spread = no_spread_reason(n_gen, n_real, int(subsets), size)
    std = None if spread else float(values.std())
    if spread:
        warnings.append(f"KID has no spread: {spread}")
    return MetricValue(
        metric="kid",
        value=float(values.mean()),
        std=std,
        n_gen=n_gen,
        n_real=n_real,
        parameters={
            "subsets": int(subsets),
            "subset_size": size,
            "seed": seed,
            "kernel": "polynomial (x.y/d + 1)^3",
            "estimator": "unbiased",
            "spread": spread or "std over subsets (ddof=0)",
        },
        warnings=warnings,
    )


def no_spread_reason(n_gen: int, n_real: int, subsets: int, size: int) -> str | None:
    """Why the std over subsets cannot be estimated, or None when it can."""
    if subsets < 2:
        return "one subset only (use at least 2)"
    if size >= n_gen and size >= n_real:
        return f"every subset is the whole of both sets ({n_gen} and {n_real} images)"
    return None


def kid_from_subsets(
    gen: np.ndarray, real: np.ndarray, draws: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Unbiased MMD² of each (gen rows, real rows) subset, in float64."""
    gen = gen.astype(np.float64, copy=False)
    real = real.astype(np.float64, copy=False)
    if _full_sets(gen, real, draws):
        # Every subset is both whole sets in another order: the sums do not depend on the order.
        return np.full(len(draws), _mmd2(gen, real))
    if _full_kernels_are_cheaper(gen.shape[0], real.shape[0], draws):
        return _mmd2_from_full_kernels(gen, real, draws)
    return np.array([_mmd2(gen[g], real[r]) for g, r in draws])


def _full_sets(gen: np.ndarray, real: np.ndarray, draws: list) -> bool:
    return bool(draws) and all(g.size == gen.shape[0] and r.size == real.shape[0] for g, r in draws)


def _full_kernels_are_cheaper(n_gen: int, n_real: int, draws: list) -> bool:
    """Kernel entries: all pairs once (symmetric blocks halved) vs 2·m² per subset.

    The full pass also multiplies each block by the indicator matrix, hence the margin of 1.5.
    """
    per_subset = sum(2 * g.size * r.size for g, r in draws)
    return 1.5 * (n_gen * n_gen / 2 + n_real * n_real / 2 + n_gen * n_real) <= per_subset


def _indicators(n: int, subsets: list[np.ndarray]) -> np.ndarray:
    """n x subsets matrix with a 1 where a row belongs to a subset."""
    out = np.zeros((n, len(subsets)))
    for column, rows in enumerate(subsets):
        out[rows, column] = 1.0
    return out


def _kernel_block(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    kernel = x @ y.T
    kernel *= 1.0 / x.shape[1]
    kernel += 1.0
    cube = kernel * kernel
    cube *= kernel
    return cube


def _quadratic_forms(
    x: np.ndarray,
    px: np.ndarray,
    y: np.ndarray | None = None,
    py: np.ndarray | None = None,
) -> np.ndarray:
    """Per subset column s, p_sᵀ K q_s with K the polynomial kernel of x against y.

    Without y, K = k(x, x) and q = p: only blocks on and right of the diagonal are built, the
    off-diagonal ones counted twice (K is symmetric). One row block of K is alive at a time.
    """
    out = np.zeros(px.shape[1])
    n = x.shape[0]
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        rows = px[start:stop]
        if y is None:
            block = _kernel_block(x[start:stop], x[start:])
            out += np.einsum("ij,ij->j", rows, block[:, : stop - start] @ rows)
            if stop < n:
                out += 2.0 * np.einsum("ij,ij->j", rows, block[:, stop - start :] @ px[stop:])
        else:
            out += np.einsum("ij,ij->j", rows, _kernel_block(x[start:stop], y) @ py)
    return out


def _mmd2_from_full_kernels(
    gen: np.ndarray, real: np.ndarray, draws: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Every subset's MMD² from one pass over the full kernel matrices.

    Subset sums are quadratic forms with 0/1 indicator vectors, so all subsets share each
    kernel entry: cheaper than per-subset kernels whenever subsets·m² exceeds n².
    """
    m = draws[0][0].size
    pg = _indicators(gen.shape[0], [g for g, _ in draws])
    pr = _indicators(real.shape[0], [r for _, r in draws])
    d = gen.shape[1]
    diag_g = (np.einsum("ij,ij->i", gen, gen) / d + 1.0) ** 3
    diag_r = (np.einsum("ij,ij->i", real, real) / d + 1.0) ** 3
    within = _quadratic_forms(gen, pg) - pg.T @ diag_g + _quadratic_forms(real, pr) - pr.T @ diag_r
    cross = _quadratic_forms(gen, pg, real, pr)
    return within / (m * (m - 1)) - 2.0 * cross / (m * m)
