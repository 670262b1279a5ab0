"""Renditions: every image a study serves, rendered ahead of time into the study's display box.

The box is fixed when the study first opens (app/display.py says how it is chosen and how an
image is fitted). Opening a study renders its whole pool (and, when it has attention checks, a
degraded copy of each image); an upload to a generator of an open study renders the new images.
Serving then only reads a file, so a check copy costs what a real image costs to fetch.
Attention-check logic asks for any image it needs with `rendition_for` (a reference image, say):
it is rendered on first request and kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import display
from app.media import MediaStore
from app.models import Image, Prompt, Rendition, Study, study_generators
from app.models.enums import RenditionVariant, StudyStatus
from app.services.studies import slots
from app.services.studies.study import study_images

CLEAN = RenditionVariant.clean
DEGRADED = RenditionVariant.degraded
VARIANTS = (CLEAN, DEGRADED)


def study_box(session: Session, study: Study) -> display.DisplayBox:
    """The study's display box, fixed (and stored) the first time it is asked for."""
    if study.display_width and study.display_height:
        return display.DisplayBox(study.display_width, study.display_height)
    query = select(Image.width, Image.height).where(
        Image.generator_id.in_([g.id for g in study.generators])
    )
    if study.prompt_set_id is not None:
        query = query.join(Prompt, Prompt.id == Image.prompt_id).where(
            Prompt.prompt_set_id == study.prompt_set_id
        )
    box = display.display_box(session.execute(query).all(), study.display_size)
    study.display_width, study.display_height = box.width, box.height
    session.flush()
    return box


def _degrade_seed(study: Study, image_id: int) -> int:
    digest = hashlib.sha256(f"check:{study.public_id}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _render(
    session: Session, store: MediaStore, study: Study, image: Image, variant: str
) -> Rendition:
    box = study_box(session, study)
    original = store.read_original(image.sha256, session)
    seed = _degrade_seed(study, image.id) if variant == DEGRADED else None
    data = display.render(original, box, degrade_seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    # Linked into place when the session commits (app/media.py), like every stored file.
    store.put_bytes(session, store.rendition_path(sha), data)
    return Rendition(
        study_id=study.id,
        image_id=image.id,
        variant=variant,
        sha256=sha,
        width=box.width,
        height=box.height,
        byte_size=len(data),
    )


def rendition_for(
    session: Session, store: MediaStore, study: Study, image_id: int, variant: str = CLEAN
) -> Rendition:
    """The study's rendition of an image, rendered now if it was not prepared."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    query = select(Rendition).where(
        Rendition.study_id == study.id,
        Rendition.image_id == image_id,
        Rendition.variant == variant,
    )
    existing = session.scalar(query)
    if existing is not None and store.rendition_path(existing.sha256).exists():
        return existing
    fresh = _render(session, store, study, session.get(Image, image_id), variant)
    if existing is not None:  # the file went missing: render it again under the same row
        existing.sha256, existing.byte_size = fresh.sha256, fresh.byte_size
        session.flush()
        return existing
    try:
        with session.begin_nested():
            session.add(fresh)
            session.flush()
    except IntegrityError:
        # Rendered concurrently by another request: theirs is as good.
        return session.scalar(query)
    return fresh


def prepare(
    session: Session,
    store: MediaStore,
    study: Study,
    image_ids: Iterable[int],
    variants: Iterable[str] = (CLEAN,),
) -> int:
    """Render what is missing of these images in these variants; returns how many were made."""
    image_ids = sorted(set(image_ids))
    made = 0
    for variant in variants:
        have = set(
            session.scalars(
                select(Rendition.image_id).where(
                    Rendition.study_id == study.id, Rendition.variant == variant
                )
            )
        )
        for image_id in image_ids:
            if image_id not in have:
                rendition_for(session, store, study, image_id, variant)
                made += 1
    return made


def study_variants(study: Study) -> tuple[str, ...]:
    return (CLEAN, DEGRADED) if study.attention_check_rate > 0 else (CLEAN,)


def prepare_study(session: Session, store: MediaStore, study: Study) -> int:
    """At open: fix the box, make the open slots (not left to the first annotator's request)
    and render the whole pool (and its check copies)."""
    study_box(session, study)
    slots.ensure_slots(session, study)
    pool = [image_id for image_id, _gen, _prompt in study_images(session, study)]
    return prepare(session, store, study, pool, study_variants(study))


def prepare_uploaded(
    session: Session, store: MediaStore, generator_id: int, image_ids: Iterable[int]
) -> int:
    """After an upload: render the new images for every open study whose pool they join."""
    image_ids = set(image_ids)
    studies = session.scalars(
        select(Study)
        .join(study_generators, study_generators.c.study_id == Study.id)
        .where(study_generators.c.generator_id == generator_id, Study.status == StudyStatus.open)
    ).all()
    made = 0
    for study in studies:
        pool = {image_id for image_id, _g, _p in study_images(session, study)} & image_ids
        made += prepare(session, store, study, pool, study_variants(study))
    return made


def read_rendition(store: MediaStore, rendition: Rendition) -> bytes:
    return store.rendition_path(rendition.sha256).read_bytes()
