"""Image batches for generators and reference sets: validated, stored, all-or-nothing.

Every file is decoded (never trusted by name or content type). Any bad file rejects the whole
batch: the service raises, the caller rolls back, and the media store deletes what it wrote.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from sqlalchemy.orm import Session

from app.errors import InvalidInput, TooLarge
from app.imaging import ImageRejected, decode_image
from app.media import MediaStore
from app.models import Batch, Generator, Image, Job, PromptSet, ReferenceSet
from app.services.jobs import enqueue_extraction, enqueue_metrics_after_upload, owner_scope
from app.services.prompts import resolve_prompts
from app.settings import Settings


@dataclass(frozen=True)
class IncomingFile:
    """A named file whose bytes are read on demand (one at a time keeps memory bounded)."""

    name: str
    read: Callable[[int], bytes]  # read(limit) returns at most limit bytes


def files_from_bytes(items: Iterable[tuple[str, bytes]]) -> list[IncomingFile]:
    return [IncomingFile(name, lambda limit, data=data: data[:limit]) for name, data in items]


def files_from_zip(fileobj: IO[bytes], settings: Settings) -> list[IncomingFile]:
    """List a zip's image members, refusing path traversal and oversized contents up front."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile:
        raise InvalidInput("the archive is not a valid zip file") from None
    members = []
    total = 0
    for info in archive.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise InvalidInput(
                f"archive member {name!r} has an absolute or '..' path; "
                "use plain relative names inside the zip"
            )
        if info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        if info.file_size > settings.max_file_bytes:
            raise TooLarge(
                f"archive member {name!r} is {info.file_size:,} bytes; the limit is "
                f"{settings.max_file_bytes:,} (ARENA_MAX_FILE_BYTES)"
            )
        total += info.file_size
        if total > settings.max_zip_uncompressed_bytes:
            raise TooLarge(
                f"the archive expands to more than {settings.max_zip_uncompressed_bytes:,} bytes "
                "(ARENA_MAX_ZIP_UNCOMPRESSED_BYTES); split it into smaller batches"
            )
        members.append(info)

    def reader(info: zipfile.ZipInfo) -> Callable[[int], bytes]:
        def read(limit: int) -> bytes:
            try:
                with archive.open(info) as handle:
                    # Read past the declared size only far enough to see that it lied.
                    return handle.read(limit)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ImageRejected(f"cannot read it from the archive: {exc}") from None

        return read

    return [IncomingFile(posixpath.normpath(m.filename), reader(m)) for m in members]


def parse_manifest(name: str, data: bytes) -> dict[str, str]:
    """Map file name → prompt external id from JSON ({file: id} or [{file, prompt}]) or CSV."""
    text = data.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if name.lower().endswith(".json") or stripped.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the manifest is not valid JSON: {exc}") from None
        if isinstance(parsed, dict):
            return {str(k): str(v) for k, v in parsed.items()}
        if isinstance(parsed, list):
            mapping = {}
            for index, item in enumerate(parsed):
                if not isinstance(item, dict) or "file" not in item or "prompt" not in item:
                    raise InvalidInput(f"manifest entry #{index} needs 'file' and 'prompt' keys")
                mapping[str(item["file"])] = str(item["prompt"])
            return mapping
        raise InvalidInput("the manifest must be a JSON object {file: prompt_id} or a list")
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    file_col = columns.get("file") or columns.get("filename")
    prompt_col = columns.get("prompt") or columns.get("prompt_id") or columns.get("external_id")
    if file_col is None or prompt_col is None:
        raise InvalidInput("the manifest CSV needs the columns file and prompt")
    mapping = {}
    for line, row in enumerate(reader, start=2):
        file_name, prompt = (row.get(file_col) or "").strip(), (row.get(prompt_col) or "").strip()
        if not file_name or not prompt:
            raise InvalidInput(f"line {line} of the manifest has an empty file or prompt")
        mapping[file_name] = prompt
    return mapping


def store_batch(
    session: Session,
    store: MediaStore,
    settings: Settings,
    *,
    files: list[IncomingFile],
    generator: Generator | None = None,
    reference_set: ReferenceSet | None = None,
    manifest: dict[str, str] | None = None,
    prompt_set: PromptSet | None = None,
) -> tuple[Batch, list[Job]]:
    """Validate and store one batch and enqueue its feature extraction; raises on bad input.

    On error nothing is kept once the caller rolls back (rows and the files written here).
    """
    if (generator is None) == (reference_set is None):
        raise ValueError("a batch belongs to exactly one generator or reference set")
    if not files:
        raise InvalidInput("the batch holds no images; attach files or one zip archive")
    if len(files) > settings.max_images_per_batch:
        raise TooLarge(
            f"the batch holds {len(files):,} images; the limit is "
            f"{settings.max_images_per_batch:,} (ARENA_MAX_IMAGES_PER_BATCH)"
        )
    names = [f.name for f in files]
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InvalidInput(f"file names appear more than once in the batch: {duplicates[:10]}")

    prompts = {}
    if manifest is not None:
        if reference_set is not None:
            raise InvalidInput("reference sets take no manifest: real images have no prompts")
        absent = sorted(manifest.keys() - set(names))
        if absent:
            raise InvalidInput(
                f"the manifest names {len(absent)} file(s) that are not in the upload: {absent[:10]}"
            )
        unmapped = sorted(set(names) - manifest.keys())
        if unmapped:
            raise InvalidInput(
                f"{len(unmapped)} uploaded file(s) are missing from the manifest: {unmapped[:10]}"
            )
        prompts = resolve_prompts(session, set(manifest.values()), prompt_set)

    batch = Batch(
        generator_id=generator.id if generator else None,
        reference_set_id=reference_set.id if reference_set else None,
    )
    session.add(batch)
    session.flush()

    errors: list[dict[str, str]] = []
    too_large = False
    images: list[Image] = []
    new_files = 0
    for incoming in files:
        try:
            data = incoming.read(settings.max_file_bytes + 1)
            decoded = decode_image(
                data, max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels
            )
        except ImageRejected as exc:
            errors.append({"file": incoming.name, "error": str(exc)})
            too_large = too_large or exc.too_large
            continue
        if errors:
            continue  # Already failing: keep validating to report every bad file, store nothing.
        new_files += store.put(session, decoded.sha256, data, decoded.served_png)
        prompt = prompts.get(manifest[incoming.name]) if manifest is not None else None
        images.append(
            Image(
                generator_id=batch.generator_id,
                reference_set_id=batch.reference_set_id,
                prompt_id=prompt.id if prompt else None,
                batch_id=batch.id,
                sha256=decoded.sha256,
                width=decoded.width,
                height=decoded.height,
                byte_size=decoded.byte_size,
                format=decoded.format,
            )
        )
    if errors:
        error_class = TooLarge if too_large else InvalidInput
        first = errors[0]
        raise error_class(
            f"{len(errors)} of {len(files)} file(s) rejected, nothing was stored; "
            f"first: {first['file']}: {first['error']}",
            errors=errors,
        )
    session.add_all(images)
    batch.n_images = len(images)
    batch.n_new_files = new_files
    batch.total_bytes = sum(image.byte_size for image in images)
    session.flush()
    jobs = enqueue_extraction(
        session,
        batch.id,
        owner_scope(batch.generator_id, batch.reference_set_id),
        [image.id for image in images],
        settings.extraction_chunk_size,
        settings.job_max_attempts,
    )
    jobs += enqueue_metrics_after_upload(
        session, batch.generator_id, batch.reference_set_id, settings.job_max_attempts
    )
    return batch, jobs
