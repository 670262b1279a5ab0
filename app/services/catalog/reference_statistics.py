"""A reference set's Inception statistics (mu, sigma, n, features) as an .npz: the download
and the study bundle both take it from here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound
from app.metrics.errors import MetricInputError
from app.metrics.frechet import gaussian_stats
from app.models import FeatureFile, Image, ReferenceSet
from app.models.enums import PreprocessingMode
from app.services.catalog.reference_sets import statistics_file
from app.services.compute.features import MissingFeatures, cached_keys, load_features

# pytorch-fid and clean-fid read Inception statistics from this extractor's pool3 features.
INCEPTION_EXTRACTOR = "inception-fid"


def _inception_extractor(
    session: Session, shas: list[str], mode: str = PreprocessingMode.clean
) -> str | None:
    """The fp32 Inception cache key ("inception-fid:VERSION") in preprocessing `mode` that
    holds features for all `shas`, newest version first; None when no version covers the set.
    (Versions name their mode: "...sha256-X.clean-pil-…", "….legacy_pytorch-…".)"""
    keys = session.scalars(
        select(FeatureFile.extractor)
        .where(FeatureFile.extractor.like(f"{INCEPTION_EXTRACTOR}:%"))
        .group_by(FeatureFile.extractor)
        .order_by(func.max(FeatureFile.id).desc())
    ).all()
    legacy = (".legacy_pytorch-", ".legacy_tensorflow-")

    def in_mode(key: str) -> bool:
        if (
            mode == PreprocessingMode.clean
        ):  # clean is the default: any version not naming a legacy mode
            return not any(marker in key for marker in legacy)
        return f".{mode}-" in key

    keys = [key for key in keys if in_mode(key) and ".autocast-" not in key]
    for key in keys:
        if len(cached_keys(session, key, shas)) == len(set(shas)):
            return key
    return None


def statistics_filename(reference_set: ReferenceSet) -> str:
    stem = reference_set.name.replace("/", "_").replace(" ", "_")
    return f"{stem}-inception-statistics.npz"


def statistics_npz(session: Session, features_root: Path, reference_set: ReferenceSet) -> bytes:
    """mu, sigma, n and the features (for KID/PRDC) of a reference set's Inception pool3
    features, as .npz: pytorch-fid and clean-fid load the mu and sigma keys."""
    imported = statistics_file(features_root, reference_set)
    if imported is not None:
        # Served back as uploaded (its sha256 is on the reference set).
        return imported.read_bytes()
    shas = list(
        session.scalars(
            select(Image.sha256)
            .where(Image.reference_set_id == reference_set.id)
            .order_by(Image.id)
        )
    )
    if not shas:
        raise NotFound(
            f"reference set {reference_set.name!r} has no images; upload some with "
            f"POST /api/reference-sets/{reference_set.id}/batches"
        )
    mode = reference_set.preprocessing_mode
    extractor = _inception_extractor(session, shas, mode)
    try:
        if extractor is None:
            raise MissingFeatures(f"no Inception features in the {mode} mode yet")
        features = load_features(session, features_root, extractor, shas)
    except MissingFeatures as exc:
        raise NotFound(
            f"reference set {reference_set.name!r} has no complete Inception features yet "
            f"({exc}); run a worker (`arena worker`) and try again"
        ) from None
    try:
        stats = gaussian_stats(features)
    except MetricInputError as exc:
        raise InvalidInput(f"reference set {reference_set.name!r}: {exc}") from None
    buffer = io.BytesIO()
    # The layout of app.metrics.statistics_file (mu, sigma, n, features): loadable by
    # pytorch-fid and clean-fid (they read mu and sigma) and by `arena` for KID/PRDC.
    np.savez(
        buffer,
        mu=stats.mu,
        sigma=stats.sigma,
        n=np.asarray(stats.n, dtype=np.int64),
        features=features.astype(np.float32),
        preprocessing_mode=np.asarray(mode),
    )
    return buffer.getvalue()
