"""Admin JSON API: reference sets of real images."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import AdminDep, SettingsDep, StoreDep
from app.api.generators import image_out
from app.api.schemas import (
    BatchOut,
    ImageOut,
    KnownImagesOut,
    KnownImagesQuery,
    ReferenceSetCreate,
    ReferenceSetOut,
)
from app.api.upload_form import BATCH_FORM_DOC, BatchFormDep, store_uploaded_batch
from app.db import SessionDep
from app.services import reference_sets as service
from app.services.images import known_hashes, list_images

router = APIRouter(prefix="/api/reference-sets", tags=["reference sets"])


@router.post("", status_code=201, response_model=ReferenceSetOut)
def create_reference_set(body: ReferenceSetCreate, session: SessionDep, _: AdminDep):
    return service.create_reference_set(session, body.name, body.description)


@router.get("", response_model=list[ReferenceSetOut])
def list_reference_sets(session: SessionDep, _: AdminDep):
    return service.list_reference_sets(session)


@router.get("/{ref}", response_model=ReferenceSetOut)
def get_reference_set(ref: str, session: SessionDep, _: AdminDep):
    return service.get_reference_set(session, ref)


@router.delete("/{ref}", status_code=204)
def delete_reference_set(ref: str, session: SessionDep, _: AdminDep) -> Response:
    """Delete an unused reference set; 409 says what still uses it."""
    service.delete_reference_set(session, service.get_reference_set(session, ref))
    return Response(status_code=204)


@router.post(
    "/{ref}/batches", status_code=201, response_model=BatchOut, openapi_extra=BATCH_FORM_DOC
)
def upload_reference_batch(
    _: AdminDep,
    ref: str,
    batch_form: BatchFormDep,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
) -> BatchOut:
    """Upload real images (files or one zip, no manifest): all-or-nothing."""
    return store_uploaded_batch(
        session, settings, store, batch_form, lambda s: service.get_reference_set(s, ref)
    )


@router.get("/{ref}/images", response_model=list[ImageOut])
def reference_images(
    ref: str,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[ImageOut]:
    reference_set = service.get_reference_set(session, ref)
    images = list_images(session, reference_set_id=reference_set.id, limit=limit, offset=offset)
    return [image_out(request, image) for image in images]


@router.post("/{ref}/images/known", response_model=KnownImagesOut)
def known_images(
    ref: str, body: KnownImagesQuery, session: SessionDep, _: AdminDep
) -> KnownImagesOut:
    """Which of these file hashes are already stored here (`arena push` skips them: resume)."""
    owner = service.get_reference_set(session, ref)
    known = known_hashes(session, body.sha256, reference_set_id=owner.id)
    return KnownImagesOut(known=sorted(known))
