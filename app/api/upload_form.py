"""Reading a batch upload (multipart: files or one zip, optional manifest) off the request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from app.error_handlers import TOO_MUCH
from app.errors import InvalidInput, TooLarge
from app.media import MediaStore
from app.models import Generator, ReferenceSet
from app.services.catalog.prompts import get_prompt_set
from app.services.catalog.schemas import BatchOut
from app.services.uploads import (
    MAX_MANIFEST_BYTES,
    IncomingFile,
    files_from_zip,
    parse_manifest,
    prepare_batch,
    store_batch,
)
from app.settings import Settings
from app.validation import check_text

BATCH_FORM_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "anyOf": [{"required": ["files"]}, {"required": ["archive"]}],
                    "properties": {
                        "files": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                            "description": "image files (PNG, JPEG, WebP); or use archive",
                        },
                        "archive": {
                            "type": "string",
                            "format": "binary",
                            "description": "one zip of images instead of files",
                        },
                        "manifest": {
                            "type": "string",
                            "format": "binary",
                            "description": "JSON {file: prompt_external_id} or CSV file,prompt",
                        },
                        "prompt_set": {
                            "type": "string",
                            "description": "prompt set name or id (needed if ids are ambiguous)",
                        },
                    },
                }
            }
        },
    }
}


@dataclass
class BatchForm:
    """The multipart form as received: uploads spooled to temporary files, nothing parsed yet."""

    form: FormData

    def parts(
        self, settings: Settings
    ) -> tuple[list[IncomingFile], dict[str, str] | None, str | None]:
        """The image files (or zip members), the manifest and the prompt set (blocking I/O)."""
        form = self.form
        uploads = [
            f for key in ("files", "file") for f in form.getlist(key) if isinstance(f, UploadFile)
        ]
        archive = form.get("archive")
        if isinstance(archive, UploadFile):
            if uploads:
                raise InvalidInput("send either image files or one archive, not both")
            files = files_from_zip(archive.file, settings)
        else:
            files = [
                IncomingFile(u.filename or f"file-{i}", _reader(u)) for i, u in enumerate(uploads)
            ]
        manifest = None
        raw = form.get("manifest")
        if isinstance(raw, UploadFile):
            raw.file.seek(0)
            manifest = parse_manifest(raw.filename or "", raw.file.read(MAX_MANIFEST_BYTES + 1))
        elif isinstance(raw, str) and raw.strip():
            manifest = parse_manifest("", raw.encode())
        prompt_set = form.get("prompt_set")
        if isinstance(prompt_set, str):
            check_text(prompt_set, "prompt_set")
        return files, manifest, prompt_set if isinstance(prompt_set, str) and prompt_set else None


def _reader(upload: UploadFile):
    def read(limit: int) -> bytes:
        upload.file.seek(0)
        return upload.file.read(limit)

    return read


async def read_batch_form(request: Request) -> AsyncIterator[BatchForm]:
    """Receive the multipart body (a dependency: the route itself then runs in a thread).

    The size limit is enforced on the bytes as they arrive (app/request_guard.py).
    """
    settings: Settings = request.app.state.settings
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(
            "send multipart/form-data with image 'files' (or one zip 'archive') and an optional "
            "'manifest'"
        )
    try:
        form = await request.form(
            max_files=settings.max_images_per_batch + 2, max_fields=100, max_part_size=1 << 20
        )
    except HTTPException as exc:
        if exc.status_code == 413:
            raise
        if "Too many files" in str(exc.detail):
            raise TooLarge(
                f"the batch holds more than {settings.max_images_per_batch:,} images "
                "(ARENA_MAX_IMAGES_PER_BATCH)"
            ) from None
        if any(marker in str(exc.detail) for marker in TOO_MUCH):
            raise TooLarge(f"the form is too large: {exc.detail}") from None
        raise InvalidInput(f"the multipart body could not be read: {exc.detail}") from None
    try:
        yield BatchForm(form)
    finally:
        await form.close()


BatchFormDep = Annotated[BatchForm, Depends(read_batch_form)]


def store_uploaded_batch(
    session: Session,
    settings: Settings,
    store: MediaStore,
    batch_form: BatchForm,
    find_owner: Callable[[Session], Generator | ReferenceSet],
) -> BatchOut:
    """Decode everything first, then write in one short transaction (run in a worker thread).

    No transaction is open while images decode: the owner is looked up (a 404 costs no
    decoding), that read is ended, and the rows go in only once every file has passed.
    """
    owner = find_owner(session)
    owner_kind = "reference_set" if isinstance(owner, ReferenceSet) else "generator"
    session.rollback()  # ends the read; nothing is held while decoding
    files, manifest, prompt_set_ref = batch_form.parts(settings)
    prepared = prepare_batch(
        store, settings, files, manifest, reference=owner_kind == "reference_set"
    )
    try:
        prompt_set = get_prompt_set(session, prompt_set_ref) if prompt_set_ref else None
        batch, jobs = store_batch(
            session,
            store,
            settings,
            prepared=prepared,
            prompt_set=prompt_set,
            **{owner_kind: find_owner(session)},
        )
    except BaseException:
        prepared.discard()
        raise
    return BatchOut.model_validate(batch).model_copy(update={"jobs_enqueued": len(jobs)})
