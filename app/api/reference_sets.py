"""Admin JSON API: reference sets of real images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from app.api.generators import image_out
from app.api.upload_form import BATCH_FORM_DOC, BatchFormDep, store_uploaded_batch
from app.db import SessionDep
from app.deps.admin import AdminDep
from app.deps.common import SettingsDep, StoreDep
from app.models.enums import PreprocessingMode
from app.services.catalog import reference_sets as service
from app.services.catalog.images import known_hashes, list_images
from app.services.catalog.schemas import (
    BatchOut,
    ImageOut,
    KnownImagesOut,
    KnownImagesQuery,
    ReferenceSetCreate,
    ReferenceSetOut,
)

router = APIRouter(prefix="/api/reference-sets", tags=["reference sets"])


@router.post("", status_code=201, response_model=ReferenceSetOut)
def create_reference_set(body: ReferenceSetCreate, session: SessionDep, _: AdminDep):
    return service.create_reference_set(
        session, body.name, body.description, body.preprocessing_mode
    )


@router.post("/statistics", status_code=201, response_model=ReferenceSetOut)
def import_reference_statistics(
    _: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    statistics: Annotated[UploadFile, File(description="pytorch-fid / clean-fid .npz: mu, sigma")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    preprocessing_mode: Annotated[
        PreprocessingMode,
        Form(description="the mode the statistics were made in (pytorch-fid: legacy_pytorch)"),
    ],
    description: Annotated[str, Form(max_length=10_000)] = "",
):
    """A reference set from Inception statistics (a paper's or a dataset's .npz): FID against it
    needs no reference images; KID and PRDC need the per-image features (a `features` array).

    A plain `def`: it runs in a worker thread, so neither reading the spooled upload nor the
    database work blocks the event loop."""
    statistics.file.seek(0)
    data = statistics.file.read(service.MAX_STATISTICS_BYTES + 1)
    return service.import_reference_statistics(
        session,
        settings.features_path,
        name,
        data,
        preprocessing_mode=preprocessing_mode,
        description=description,
        max_job_attempts=settings.job_max_attempts,
    )


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
        session, settings, store, batch_form, lambda s: service.reference_set_for_images(s, ref)
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
