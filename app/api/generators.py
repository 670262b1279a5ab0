"""Admin JSON API: generators, their image batches and images."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from app.api.upload_form import BATCH_FORM_DOC, BatchFormDep, store_uploaded_batch
from app.db import SessionDep
from app.deps.admin import AdminDep
from app.deps.common import SettingsDep, StoreDep
from app.services.catalog import generators as service
from app.services.catalog.images import known_hashes, list_images
from app.services.catalog.schemas import (
    BatchOut,
    GeneratorCreate,
    GeneratorOut,
    GeneratorUpdate,
    ImageOut,
    KnownImagesOut,
    KnownImagesQuery,
)

router = APIRouter(prefix="/api/generators", tags=["generators"])


def _out(generator, counts: dict[int, int]) -> GeneratorOut:
    return GeneratorOut.model_validate(generator).model_copy(
        update={"n_images": counts.get(generator.id, 0)}
    )


@router.post("", status_code=201, response_model=GeneratorOut)
def create_generator(body: GeneratorCreate, session: SessionDep, _: AdminDep) -> GeneratorOut:
    return _out(service.create_generator(session, **body.model_dump()), {})


@router.get("", response_model=list[GeneratorOut])
def list_generators(session: SessionDep, _: AdminDep) -> list[GeneratorOut]:
    counts = service.image_counts(session)
    return [_out(g, counts) for g in service.list_generators(session)]


@router.get("/{ref}", response_model=GeneratorOut)
def get_generator(ref: str, session: SessionDep, _: AdminDep) -> GeneratorOut:
    return _out(service.get_generator(session, ref), service.image_counts(session))


@router.delete("/{ref}", status_code=204)
def delete_generator(ref: str, session: SessionDep, _: AdminDep) -> Response:
    """Delete an unused generator; 409 says what still uses it."""
    service.delete_generator(session, service.get_generator(session, ref))
    return Response(status_code=204)


@router.patch("/{ref}", response_model=GeneratorOut)
def update_generator(
    ref: str, body: GeneratorUpdate, session: SessionDep, _: AdminDep
) -> GeneratorOut:
    generator = service.get_generator(session, ref)
    changes = body.model_dump(exclude_unset=True)
    return _out(
        service.update_generator(session, generator, **changes), service.image_counts(session)
    )


@router.post(
    "/{ref}/batches", status_code=201, response_model=BatchOut, openapi_extra=BATCH_FORM_DOC
)
def upload_batch(
    _: AdminDep,
    ref: str,
    batch_form: BatchFormDep,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
) -> BatchOut:
    """Upload images for a generator: all-or-nothing; enqueues feature extraction."""
    return store_uploaded_batch(
        session, settings, store, batch_form, lambda s: service.get_generator(s, ref)
    )


@router.get("/{ref}/images", response_model=list[ImageOut])
def generator_images(
    ref: str,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[ImageOut]:
    generator = service.get_generator(session, ref)
    images = list_images(session, generator_id=generator.id, limit=limit, offset=offset)
    return [image_out(request, image) for image in images]


def image_out(request: Request, image) -> ImageOut:
    return ImageOut.model_validate(image).model_copy(
        update={"url": str(request.url_for("served_image", public_id=image.public_id))}
    )


@router.post("/{ref}/images/known", response_model=KnownImagesOut)
def known_images(
    ref: str, body: KnownImagesQuery, session: SessionDep, _: AdminDep
) -> KnownImagesOut:
    """Which of these file hashes are already stored here (`arena push` skips them: resume)."""
    owner = service.get_generator(session, ref)
    known = known_hashes(session, body.sha256, generator_id=owner.id)
    return KnownImagesOut(known=sorted(known))
