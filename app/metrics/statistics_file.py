"""Reference statistics files: .npz with mu and sigma (the pytorch-fid / clean-fid layout), plus the
per-image features when kept (KID and PRDC need them) and n."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from app.metrics.errors import StatisticsFileError
from app.metrics.frechet import GaussianStats


def save_statistics(path: str | os.PathLike, stats: GaussianStats, features: object = None) -> None:
    """Write mu, sigma (and features) to `path` exactly (no .npz appended), atomically."""
    path = Path(path)
    mu = np.asarray(stats.mu, dtype=np.float64)
    sigma = np.asarray(stats.sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise StatisticsFileError(
            f"mu {mu.shape} and sigma {sigma.shape} do not describe one Gaussian"
        )
    arrays = {"mu": mu, "sigma": sigma}
    if stats.n is not None:
        arrays["n"] = np.asarray(stats.n, dtype=np.int64)
    if features is not None:
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != mu.size:
            raise StatisticsFileError(
                f"features of shape {features.shape} do not match statistics of dimension {mu.size}"
            )
        arrays["features"] = features
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_statistics(path: str | os.PathLike) -> tuple[GaussianStats, np.ndarray | None]:
    """Read a statistics .npz; every inconsistency is a StatisticsFileError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise StatisticsFileError(f"{path}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise StatisticsFileError(f"{path}: not a readable .npz or .npy file ({exc})") from None
    if isinstance(archive, np.ndarray):
        raise StatisticsFileError(
            f"{path}: a single array (.npy), not statistics; a statistics file is an .npz with "
            "arrays mu and sigma"
        )
    with archive:
        try:
            missing = [key for key in ("mu", "sigma") if key not in archive.files]
            if missing:
                raise StatisticsFileError(
                    f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(archive.files) or 'none'}"
                )
            mu = np.asarray(archive["mu"], dtype=np.float64)
            sigma = np.asarray(archive["sigma"], dtype=np.float64)
            features = archive["features"] if "features" in archive.files else None
            n = int(archive["n"]) if "n" in archive.files else None
        except (ValueError, TypeError, zipfile.BadZipFile, OSError) as exc:
            raise StatisticsFileError(f"{path}: unreadable array ({exc})") from None
    if mu.ndim != 1 or mu.size == 0:
        raise StatisticsFileError(f"{path}: mu must be a 1-D vector, got shape {mu.shape}")
    if sigma.shape != (mu.size, mu.size):
        raise StatisticsFileError(
            f"{path}: sigma has shape {sigma.shape} but mu has dimension {mu.size}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise StatisticsFileError(f"{path}: mu or sigma contains NaN or inf")
    if features is not None:
        if features.ndim != 2 or features.shape[1] != mu.size:
            raise StatisticsFileError(
                f"{path}: features of shape {features.shape} do not match dimension {mu.size}"
            )
        if n is not None and n != features.shape[0]:
            raise StatisticsFileError(f"{path}: n = {n} but features hold {features.shape[0]} rows")
        n = features.shape[0]
    return GaussianStats(mu, sigma, n), features
