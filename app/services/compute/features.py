"""The feature cache: (content sha256, extractor name:version) → a row in an .npy file.

Vectors live in files (one matrix per extraction job), the database only indexes them, so a
metric job reads a whole generator's features with a few file loads and never recomputes one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Feature, FeatureFile


class MissingFeatures(LookupError):
    """Some images have no cached features for this extractor yet."""


def text_key(text: str) -> str:
    """Cache key for a prompt's text embedding (texts share the table with image hashes)."""
    return hashlib.sha256(b"text\x00" + text.encode()).hexdigest()


def cached_keys(session: Session, extractor: str, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 900):  # stay under SQLite's bound-parameter limit
        chunk = keys[start : start + 900]
        found.update(
            session.scalars(
                select(Feature.sha256).where(
                    Feature.extractor == extractor, Feature.sha256.in_(chunk)
                )
            )
        )
    return found


def store_features(
    session: Session, root: Path, extractor: str, keys: list[str], matrix: np.ndarray
) -> FeatureFile:
    """Write one matrix and index its rows; keys another worker indexed meanwhile are kept as is."""
    if matrix.ndim != 2 or matrix.shape[0] != len(keys):
        raise ValueError(f"{len(keys)} keys but a feature matrix of shape {matrix.shape}")
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]
    relative = Path(extractor.replace(":", "_").replace("/", "_")) / f"{digest}.npy"
    path = Path(root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
    with os.fdopen(fd, "wb") as handle:
        np.save(handle, np.ascontiguousarray(matrix, dtype=np.float32))
    os.replace(tmp, path)
    file_row = session.scalar(select(FeatureFile).where(FeatureFile.path == str(relative)))
    if file_row is None:
        file_row = FeatureFile(
            extractor=extractor, path=str(relative), n_rows=len(keys), dimension=matrix.shape[1]
        )
        session.add(file_row)
        session.flush()
    rows = [
        {"sha256": key, "extractor": extractor, "file_id": file_row.id, "row": index}
        for index, key in enumerate(keys)
    ]
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Feature)
    for start in range(0, len(rows), 200):
        session.execute(insert.on_conflict_do_nothing(), rows[start : start + 200])
    return file_row


def load_features(session: Session, root: Path, extractor: str, keys: list[str]) -> np.ndarray:
    """The feature rows for `keys`, in that order, as float64; MissingFeatures if any is absent."""
    locations: dict[str, tuple[str, int]] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 900):
        chunk = unique[start : start + 900]
        query = (
            select(Feature.sha256, FeatureFile.path, Feature.row)
            .join(FeatureFile, FeatureFile.id == Feature.file_id)
            .where(Feature.extractor == extractor, Feature.sha256.in_(chunk))
        )
        for sha, path, row in session.execute(query):
            locations[sha] = (path, row)
    missing = [key for key in unique if key not in locations]
    if missing:
        raise MissingFeatures(f"{len(missing)} of {len(unique)} items lack {extractor} features")
    by_file: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key, (path, row) in locations.items():
        by_file[path].append((key, row))
    vectors: dict[str, np.ndarray] = {}
    for path, wanted in by_file.items():
        matrix = np.load(Path(root) / path, mmap_mode="r")
        for key, row in wanted:
            vectors[key] = np.asarray(matrix[row], dtype=np.float64)
    return np.stack([vectors[key] for key in keys]) if keys else np.zeros((0, 0))
