"""Image batches for generators and reference sets: validated, stored, all-or-nothing.

Every file is decoded (never trusted by name or content type) before any database work, so the
write transaction is short. Any bad file rejects the whole batch: nothing is written to the
database and the staged files are deleted (app/media.py explains why that is race-free).
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
from app.media import MediaStore, Staged
from app.models import Batch, Generator, Image, Job, PromptSet, ReferenceSet
from app.services.catalog.prompts import resolve_prompts
from app.services.compute.jobs import enqueue_extraction, enqueue_metrics_after_upload, owner_scope
from app.services.studies.renditions import prepare_uploaded
from app.settings import Settings
from app.validation import check_text, csv_error


@dataclass(frozen=True)
class IncomingFile:
    """A named file whose bytes are read on demand (one at a time keeps memory bounded)."""

    name: str
    read: Callable[[int], bytes]  # read(limit) returns at most limit bytes


def files_from_bytes(items: Iterable[tuple[str, bytes]]) -> list[IncomingFile]:
    return [IncomingFile(name, lambda limit, data=data: data[:limit]) for name, data in items]


# What Python's zipfile can read; Deflate64 (9), PPMd (98) and the rest raise on open.
READABLE_COMPRESSION = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


def files_from_zip(fileobj: IO[bytes], settings: Settings) -> list[IncomingFile]:
    """List a zip's image members, refusing path traversal, features Python cannot read and
    oversized contents up front."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidInput(f"the archive is not a valid zip file: {exc}") from None
    entries = archive.infolist()
    if len(entries) > 2 * settings.max_images_per_batch + 100:
        raise TooLarge(
            f"the archive lists {len(entries):,} entries; a batch holds at most "
            f"{settings.max_images_per_batch:,} images (ARENA_MAX_IMAGES_PER_BATCH)"
        )
    members = []
    total = 0
    for info in entries:
        name = info.filename
        check_text(name, "an archive member name")
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise InvalidInput(
                f"archive member {name!r} has an absolute or '..' path; "
                "use plain relative names inside the zip"
            )
        if info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        if info.flag_bits & 0x1:
            raise InvalidInput(
                f"archive member {name!r} is encrypted; upload a zip without a password"
            )
        if info.compress_type not in READABLE_COMPRESSION:
            raise InvalidInput(
                f"archive member {name!r} uses compression method {info.compress_type} "
                "(e.g. Deflate64), which cannot be read; re-create the zip with "
                f"{' or '.join(READABLE_COMPRESSION.values())}"
            )
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
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                NotImplementedError,
                RuntimeError,
                ValueError,
            ) as exc:
                raise ImageRejected(f"cannot read it from the archive: {exc}") from None

        return read

    return [IncomingFile(posixpath.normpath(m.filename), reader(m)) for m in members]


MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def _manifest_value(value: object, what: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidInput(f"{what} in the manifest must be a string, not {type(value).__name__}")
    return check_text(str(value), f"{what} in the manifest")


def parse_manifest(name: str, data: bytes) -> dict[str, str]:
    """Map file name → prompt external id from JSON ({file: id} or [{file, prompt}]) or CSV."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise TooLarge(f"the manifest is over {MAX_MANIFEST_BYTES:,} bytes")
    text = data.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if name.lower().endswith(".json") or stripped.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the manifest is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidInput("the manifest JSON is nested too deeply") from None
        if isinstance(parsed, dict):
            return {
                _manifest_value(k, "a file name"): _manifest_value(v, f"the prompt of {k!r}")
                for k, v in parsed.items()
            }
        if isinstance(parsed, list):
            mapping = {}
            for index, item in enumerate(parsed):
                if not isinstance(item, dict) or "file" not in item or "prompt" not in item:
                    raise InvalidInput(f"manifest entry #{index} needs 'file' and 'prompt' keys")
                file_name = _manifest_value(item["file"], f"entry #{index}'s file")
                mapping[file_name] = _manifest_value(item["prompt"], f"entry #{index}'s prompt")
            return mapping
        raise InvalidInput("the manifest must be a JSON object {file: prompt_id} or a list")
    check_text(text, "the manifest")
    reader = csv.DictReader(io.StringIO(text))
    line = 1
    try:
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        file_col = columns.get("file") or columns.get("filename")
        prompt_col = columns.get("prompt") or columns.get("prompt_id") or columns.get("external_id")
        if file_col is None or prompt_col is None:
            raise InvalidInput("the manifest CSV needs the columns file and prompt")
        mapping = {}
        for line, row in enumerate(reader, start=2):
            file_name = (row.get(file_col) or "").strip()
            prompt = (row.get(prompt_col) or "").strip()
            if not file_name or not prompt:
                raise InvalidInput(f"line {line} of the manifest has an empty file or prompt")
            mapping[file_name] = prompt
    except csv.Error as exc:
        raise csv_error(exc, line + 1, "the manifest") from None
    return mapping


@dataclass(frozen=True)
class PreparedImage:
    """One decoded, validated image whose files are staged (not yet visible) in the store."""

    name: str
    sha256: str
    width: int
    height: int
    byte_size: int
    format: str
    staged: Staged
    brightness: float | None = None
    saturation: float | None = None


@dataclass(frozen=True)
class PreparedBatch:
    images: list[PreparedImage]
    manifest: dict[str, str] | None

    def discard(self) -> None:
        for image in self.images:
            image.staged.discard()


def prepare_batch(
    store: MediaStore,
    settings: Settings,
    files: list[IncomingFile],
    manifest: dict[str, str] | None = None,
    *,
    reference: bool = False,
) -> PreparedBatch:
    """Decode and validate every file and stage its bytes; no database work at all.

    This is the slow part of an upload, so it runs before the write transaction opens. Any bad
    file rejects the batch: every staged file is deleted and the error lists each bad file.
    """
    if not files:
        raise InvalidInput("the batch holds no images; attach files or one zip archive")
    if len(files) > settings.max_images_per_batch:
        raise TooLarge(
            f"the batch holds {len(files):,} images; the limit is "
            f"{settings.max_images_per_batch:,} (ARENA_MAX_IMAGES_PER_BATCH)"
        )
    names = [f.name for f in files]
    for name in names:
        check_text(name, "a file name")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InvalidInput(f"file names appear more than once in the batch: {duplicates[:10]}")
    if manifest is not None:
        if reference:
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

    errors: list[dict[str, str]] = []
    too_large = False
    images: list[PreparedImage] = []
    try:
        for incoming in files:
            try:
                data = incoming.read(settings.max_file_bytes + 1)
                decoded = decode_image(
                    data,
                    max_bytes=settings.max_file_bytes,
                    max_pixels=settings.max_image_pixels,
                    max_concurrent=settings.max_concurrent_decodes,
                )
            except ImageRejected as exc:
                errors.append({"file": incoming.name, "error": str(exc)})
                too_large = too_large or exc.too_large
                continue
            if errors:
                continue  # Already failing: keep validating to report every bad file, store nothing.
            images.append(
                PreparedImage(
                    name=incoming.name,
                    sha256=decoded.sha256,
                    width=decoded.width,
                    height=decoded.height,
                    byte_size=decoded.byte_size,
                    format=decoded.format,
                    staged=store.stage(decoded.sha256, data, decoded.served_png),
                    brightness=decoded.brightness,
                    saturation=decoded.saturation,
                )
            )
    except BaseException:
        PreparedBatch(images, manifest).discard()
        raise
    if errors:
        PreparedBatch(images, manifest).discard()
        error_class = TooLarge if too_large else InvalidInput
        first = errors[0]
        raise error_class(
            f"{len(errors)} of {len(files)} file(s) rejected, nothing was stored; "
            f"first: {first['file']}: {first['error']}",
            errors=errors,
        )
    return PreparedBatch(images, manifest)


def store_batch(
    session: Session,
    store: MediaStore,
    settings: Settings,
    *,
    files: list[IncomingFile] | None = None,
    prepared: PreparedBatch | None = None,
    generator: Generator | None = None,
    reference_set: ReferenceSet | None = None,
    manifest: dict[str, str] | None = None,
    prompt_set: PromptSet | None = None,
) -> tuple[Batch, list[Job]]:
    """Store one batch (given `files`, or a `prepared` one) and enqueue its feature extraction.

    On error nothing is kept once the caller rolls back: no rows, and the staged files are
    deleted; files are linked into the store only when the caller commits.
    """
    if (generator is None) == (reference_set is None):
        raise ValueError("a batch belongs to exactly one generator or reference set")
    if prepared is None:
        prepared = prepare_batch(
            store, settings, files or [], manifest, reference=reference_set is not None
        )
    try:
        return _insert_batch(
            session, store, settings, prepared, generator, reference_set, prompt_set
        )
    except BaseException:
        prepared.discard()
        raise


def _insert_batch(
    session: Session,
    store: MediaStore,
    settings: Settings,
    prepared: PreparedBatch,
    generator: Generator | None,
    reference_set: ReferenceSet | None,
    prompt_set: PromptSet | None,
) -> tuple[Batch, list[Job]]:
    manifest = prepared.manifest
    prompts = {}
    if manifest is not None:
        prompts = resolve_prompts(session, set(manifest.values()), prompt_set)
    batch = Batch(
        generator_id=generator.id if generator else None,
        reference_set_id=reference_set.id if reference_set else None,
    )
    session.add(batch)
    session.flush()
    images: list[Image] = []
    for item in prepared.images:
        store.attach(session, item.staged)
        prompt = prompts.get(manifest[item.name]) if manifest is not None else None
        images.append(
            Image(
                generator_id=batch.generator_id,
                reference_set_id=batch.reference_set_id,
                prompt_id=prompt.id if prompt else None,
                batch_id=batch.id,
                sha256=item.sha256,
                width=item.width,
                height=item.height,
                byte_size=item.byte_size,
                format=item.format,
                brightness=item.brightness,
                saturation=item.saturation,
            )
        )
    session.add_all(images)
    batch.n_images = len(images)
    batch.n_new_files = sum(item.staged.new for item in prepared.images)
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
    if batch.generator_id is not None:
        # Open studies serve new images at once: render them now, not when first shown.
        prepare_uploaded(session, store, batch.generator_id, [image.id for image in images])
    return batch, jobs
