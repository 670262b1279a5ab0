"""Reading a batch upload (multipart: files or one zip, optional manifest) off the request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.datastructures import FormData, UploadFile

from app.errors import InvalidInput, TooLarge
from app.services.uploads import IncomingFile, files_from_zip, parse_manifest
from app.settings import Settings

BATCH_FORM_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
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
    form: FormData
    files: list[IncomingFile]
    manifest: dict[str, str] | None
    prompt_set: str | None

    async def close(self) -> None:
        await self.form.close()


def _reader(upload: UploadFile):
    def read(limit: int) -> bytes:
        upload.file.seek(0)
        return upload.file.read(limit)

    return read


async def read_batch_form(request: Request, settings: Settings) -> BatchForm:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_request_bytes:
        raise TooLarge(
            f"the request is {int(length):,} bytes; the limit is {settings.max_request_bytes:,} "
            "(ARENA_MAX_REQUEST_BYTES); split the upload into several batches"
        )
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
        if "Too many files" in str(exc.detail):
            raise TooLarge(
                f"the batch holds more than {settings.max_images_per_batch:,} images "
                "(ARENA_MAX_IMAGES_PER_BATCH)"
            ) from None
        raise InvalidInput(f"the multipart body could not be read: {exc.detail}") from None
    uploads = [
        f for key in ("files", "file") for f in form.getlist(key) if isinstance(f, UploadFile)
    ]
    archive = form.get("archive")
    if isinstance(archive, UploadFile):
        if uploads:
            raise InvalidInput("send either image files or one archive, not both")
        files = files_from_zip(archive.file, settings)
    else:
        files = [IncomingFile(u.filename or f"file-{i}", _reader(u)) for i, u in enumerate(uploads)]
    manifest = None
    raw = form.get("manifest")
    if isinstance(raw, UploadFile):
        manifest = parse_manifest(raw.filename or "", await raw.read())
    elif isinstance(raw, str) and raw.strip():
        manifest = parse_manifest("", raw.encode())
    prompt_set = form.get("prompt_set")
    return BatchForm(form, files, manifest, prompt_set if isinstance(prompt_set, str) else None)


async def store_uploaded_batch(request: Request, session, settings: Settings, store, **owner):
    """Read the form, store the batch in a worker thread (decoding is CPU-bound), close the form."""
    from starlette.concurrency import run_in_threadpool

    from app.api.schemas import BatchOut
    from app.services.prompts import get_prompt_set
    from app.services.uploads import store_batch

    batch_form = await read_batch_form(request, settings)
    try:

        def work() -> BatchOut:
            prompt_set = (
                get_prompt_set(session, batch_form.prompt_set) if batch_form.prompt_set else None
            )
            batch, jobs = store_batch(
                session,
                store,
                settings,
                files=batch_form.files,
                manifest=batch_form.manifest,
                prompt_set=prompt_set,
                **owner,
            )
            return BatchOut.model_validate(batch).model_copy(update={"jobs_enqueued": len(jobs)})

        return await run_in_threadpool(work)
    finally:
        await batch_form.close()
