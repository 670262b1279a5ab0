"""Reference sets: the real images automatic metrics compare against, or their statistics.

A reference set is either images (uploaded in batches, features extracted by workers) or an
imported .npz of Inception statistics in the pytorch-fid / clean-fid layout (mu, sigma; `n` and
per-image `features` when present). Statistics alone give FID; KID and PRDC compare individual
images, so they need the features. Either way the set names the preprocessing mode
(clean-fid's clean, legacy_pytorch or legacy_tensorflow) every compared image is resized in.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, TooLarge
from app.metrics import load_statistics
from app.metrics.errors import StatisticsFileError
from app.models import Batch, Generator, Image, MetricResult, ReferenceSet
from app.models.catalog import PREPROCESSING_MODES
from app.models.enums import PreprocessingMode
from app.services.compute.jobs import enqueue_metrics
from app.services.lookup import get_by_ref

# Inception pool3 statistics: 2048 means and a 2048 x 2048 covariance (32 MiB as float64), plus
# optional features (50,000 x 2048 float32 = 400 MiB).
MAX_STATISTICS_BYTES = 1024 * 2**20
STATISTICS_DIR = "reference-statistics"


def check_mode(mode: str) -> str:
    if mode not in PREPROCESSING_MODES:
        raise InvalidInput(
            f"unknown preprocessing_mode {mode!r}; choose one of {', '.join(PREPROCESSING_MODES)}"
        )
    return mode


def _check_name_free(session: Session, name: str) -> None:
    if session.scalar(select(ReferenceSet.id).where(ReferenceSet.name == name)) is not None:
        raise Conflict(f"a reference set named {name!r} already exists")


def create_reference_set(
    session: Session,
    name: str,
    description: str = "",
    preprocessing_mode: str = PreprocessingMode.clean,
) -> ReferenceSet:
    _check_name_free(session, name)
    reference_set = ReferenceSet(
        name=name, description=description, preprocessing_mode=check_mode(preprocessing_mode)
    )
    session.add(reference_set)
    session.flush()
    return reference_set


def import_reference_statistics(
    session: Session,
    features_root: Path,
    name: str,
    data: bytes,
    *,
    preprocessing_mode: str,
    description: str = "",
    max_job_attempts: int = 5,
) -> ReferenceSet:
    """A reference set from an .npz of Inception statistics; metric jobs for every generator.

    The file is validated by loading it (mu a vector, sigma square and matching, finite; n and
    features consistent) before anything is stored; it is kept under the feature cache by its
    sha256. A file that records its own preprocessing_mode must agree with the declared one.
    """
    check_mode(preprocessing_mode)
    _check_name_free(session, name)
    if not data:
        raise InvalidInput("the statistics file is empty; upload an .npz with mu and sigma")
    if len(data) > MAX_STATISTICS_BYTES:
        raise TooLarge(
            f"the statistics file is {len(data):,} bytes; the limit is {MAX_STATISTICS_BYTES:,}"
        )
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(features_root) / STATISTICS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            stats, features = load_statistics(temporary)
        except StatisticsFileError as exc:
            message = str(exc).replace(str(temporary), "the uploaded file")
            raise InvalidInput(
                f"{message}; expected the pytorch-fid / clean-fid .npz layout (arrays mu, sigma)"
            ) from None
        recorded = _recorded_mode(temporary)
        if recorded is not None and recorded != preprocessing_mode:
            raise InvalidInput(
                f"the file records preprocessing_mode {recorded!r} but {preprocessing_mode!r} was "
                "declared; statistics are only comparable in the mode they were made with"
            )
        reference_set = ReferenceSet(
            name=name,
            description=description,
            preprocessing_mode=preprocessing_mode,
            statistics_path=f"{STATISTICS_DIR}/{digest}.npz",
            statistics_sha256=digest,
            statistics_n=stats.n,
            statistics_dimension=stats.dim,
            statistics_has_features=features is not None,
        )
        session.add(reference_set)
        session.flush()
        # Last: a failure above leaves no file, and one here fails the caller's transaction.
        os.replace(temporary, folder / f"{digest}.npz")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for generator_id in session.scalars(
        select(Generator.id).where(Generator.images.any()).order_by(Generator.id)
    ):
        enqueue_metrics(session, generator_id, reference_set.id, max_job_attempts)
    return reference_set


def _recorded_mode(path: str) -> str | None:
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        if "preprocessing_mode" not in archive.files:
            return None
        return str(archive["preprocessing_mode"])


def statistics_file(features_root: Path, reference_set: ReferenceSet) -> Path | None:
    """Where an imported set's .npz lives, or None for a set of images."""
    if not reference_set.statistics_path:
        return None
    return Path(features_root) / reference_set.statistics_path


def ensure_accepts_images(reference_set: ReferenceSet) -> None:
    if reference_set.statistics_path:
        raise Conflict(
            f"reference set {reference_set.name!r} was imported from statistics (.npz) and holds "
            "no images; create another reference set for images"
        )


def reference_set_for_images(session: Session, ref: str | int) -> ReferenceSet:
    """The reference set an image batch goes to; a set of imported statistics refuses images."""
    reference_set = get_reference_set(session, ref)
    ensure_accepts_images(reference_set)
    return reference_set


def list_reference_sets(session: Session) -> list[ReferenceSet]:
    return list(session.scalars(select(ReferenceSet).order_by(ReferenceSet.id)))


def get_reference_set(session: Session, ref: str | int) -> ReferenceSet:
    """Look up by numeric id or by name."""
    return get_by_ref(session, ReferenceSet, ref, "reference set", "/api/reference-sets")


def delete_reference_set(session: Session, reference_set: ReferenceSet) -> None:
    """Delete a reference set nothing refers to; Conflict (409) says what still uses it."""
    ref_id = reference_set.id
    images = session.scalar(select(func.count()).where(Image.reference_set_id == ref_id))
    batches = session.scalar(select(func.count()).where(Batch.reference_set_id == ref_id))
    metrics = session.scalar(select(func.count()).where(MetricResult.reference_set_id == ref_id))
    uses = []
    if images or batches:
        uses.append(f"{images} image(s) in {batches} batch(es)")
    if metrics:
        uses.append(f"{metrics} metric result(s)")
    if uses:
        raise Conflict(
            f"reference set {reference_set.name!r} is in use ({'; '.join(uses)}); only an "
            "unused reference set can be deleted"
        )
    session.delete(reference_set)
    session.flush()
