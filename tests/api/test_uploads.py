"""Batch uploads: the happy path, blinding of served bytes, and every bad-input case.

Each bad case asserts the status, the message, and that no row and no media file was left.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from app.models import Batch, Image, Job
from tests.support.imagefactory import bomb_png, jpeg_bytes, png_bytes, truncated_png

PROMPTS = {
    "name": "parti-mini",
    "prompts": [
        {"external_id": f"p{i}", "text": f"prompt number {i}", "category": "test"} for i in range(6)
    ],
}


@pytest.fixture
def setup(arena):
    arena.client.post("/api/generators", json={"name": "gen-a"}, headers=arena.headers)
    arena.client.post("/api/prompt-sets", json=PROMPTS, headers=arena.headers)
    return arena


def counts(arena) -> tuple[int, int, int, int]:
    """(images, batches, jobs, files in the media store)."""
    with arena.session_factory() as session:
        rows = tuple(
            session.scalar(select(func.count()).select_from(t)) for t in (Image, Batch, Job)
        )
    media = Path(arena.settings.media_dir)
    files = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
    return (*rows, len(files))


def upload(arena, files, manifest=None, target="/api/generators/gen-a/batches", extra=None):
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    if manifest is not None:
        parts.append(("manifest", ("manifest.json", json.dumps(manifest), "application/json")))
    for key, value in (extra or {}).items():
        parts.append((key, (None, value)))
    return arena.client.post(target, files=parts, headers=arena.headers)


def assert_refused(arena, response, status, fragment):
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"], response.json()
    assert counts(arena) == (0, 0, 0, 0)


def test_batch_with_manifest_is_stored_and_served_without_metadata(setup):
    arena = setup
    files = [("a.png", png_bytes(1, tag="gen-a")), ("b.jpg", jpeg_bytes(2, tag="gen-a"))]
    response = upload(arena, files, manifest={"a.png": "p0", "b.jpg": "p1"})
    assert response.status_code == 201, response.text
    batch = response.json()
    # one chunk × two extractors, and a metrics job (no reference set yet: reference-free ones)
    assert batch["n_images"] == 2 and batch["jobs_enqueued"] == 3
    images = arena.client.get("/api/generators/gen-a/images", headers=arena.headers).json()
    assert len(images) == 2
    for image, (name, original) in zip(images, files, strict=True):
        # Stable ids are for researchers: annotators get per-task tokens (test_blinding.py).
        assert arena.client.get(f"/media/{image['public_id']}").status_code == 401
        served = arena.client.get(f"/media/{image['public_id']}", headers=arena.headers)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
        assert "etag" not in served.headers and "last-modified" not in served.headers
        assert b"gen-a" not in served.content and name.encode() not in served.content
        decoded = PILImage.open(io.BytesIO(served.content))
        assert decoded.info == {} or set(decoded.info) <= {"dpi"}
        assert not decoded.getexif()
        expected = np.asarray(PILImage.open(io.BytesIO(original)).convert("RGB"))
        assert np.array_equal(np.asarray(decoded.convert("RGB")), expected)
    # Appearance covariates for controlled Bradley-Terry are measured at upload.
    with arena.session_factory() as session:
        stored = session.scalars(select(Image).order_by(Image.id)).all()
        assert len(stored) == 2
        assert all(0 <= i.brightness <= 1 and 0 <= i.saturation <= 1 for i in stored)


def test_five_hundred_images_in_one_request(setup):
    arena = setup
    files = []
    for i in range(500):
        data = png_bytes(i, size=(24, 24)) if i % 2 else jpeg_bytes(i, size=(24, 24))
        files.append((f"img{i:03d}.{'png' if i % 2 else 'jpg'}", data))
    response = upload(arena, files)
    assert response.status_code == 201, response.text
    assert response.json()["n_images"] == 500
    images = arena.client.get(
        "/api/generators/gen-a/images?limit=1000", headers=arena.headers
    ).json()
    assert len(images) == 500
    ids = [image["public_id"] for image in images]
    assert len(set(ids)) == 500 and all(len(i) >= 20 for i in ids)
    for index in (0, 1, 250, 499):
        served = arena.client.get(
            f"/media/{images[index]['public_id']}", headers=arena.headers
        ).content
        original = PILImage.open(io.BytesIO(files[index][1])).convert("RGB")
        assert np.array_equal(
            np.asarray(PILImage.open(io.BytesIO(served)).convert("RGB")), np.asarray(original)
        )


def test_identical_bytes_are_stored_once(setup):
    arena = setup
    data = png_bytes(7)
    response = upload(arena, [("x.png", data), ("y.png", data)])
    assert response.status_code == 201
    assert counts(arena)[0] == 2 and counts(arena)[3] == 2  # one original + one served copy


def test_zip_archive_with_manifest(setup):
    arena = setup
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sub/one.png", png_bytes(1))
        archive.writestr("two.jpg", jpeg_bytes(2))
        archive.writestr("__MACOSX/._two.jpg", b"junk")
    parts = [
        ("archive", ("batch.zip", buffer.getvalue(), "application/zip")),
        ("manifest", ("m.csv", "file,prompt\nsub/one.png,p2\ntwo.jpg,p3\n", "text/csv")),
    ]
    response = arena.client.post(
        "/api/generators/gen-a/batches", files=parts, headers=arena.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["n_images"] == 2


def test_reference_set_upload(arena):
    arena.client.post("/api/reference-sets", json={"name": "coco-val"}, headers=arena.headers)
    response = upload(
        arena, [("r.png", png_bytes(3))], target="/api/reference-sets/coco-val/batches"
    )
    assert response.status_code == 201
    listed = arena.client.get("/api/reference-sets/coco-val/images", headers=arena.headers).json()
    assert len(listed) == 1
    with_manifest = upload(
        arena, [("r2.png", png_bytes(4))], {"r2.png": "p0"}, "/api/reference-sets/coco-val/batches"
    )
    assert with_manifest.status_code == 422
    assert "reference sets take no manifest" in with_manifest.json()["detail"]


# --- every bad input: a 4xx, a message that says what to fix, nothing stored ----------------


def test_unknown_generator(setup):
    response = upload(setup, [("a.png", png_bytes(1))], target="/api/generators/ghost/batches")
    assert_refused(setup, response, 404, "no generator 'ghost'")


def test_missing_key_stores_nothing(setup):
    response = setup.client.post(
        "/api/generators/gen-a/batches", files=[("files", ("a.png", png_bytes(1)))]
    )
    assert_refused(setup, response, 401, "missing API key")


def test_non_image_file(setup):
    files = [("good.png", png_bytes(1)), ("notes.png", b"this is plain text, not a picture")]
    response = upload(setup, files)
    assert_refused(setup, response, 422, "notes.png: not an image")
    assert response.json()["errors"] == [
        {
            "file": "notes.png",
            "error": "not an image: Pillow cannot decode it (upload PNG, JPEG or WebP)",
        }
    ]


def test_truncated_image(setup):
    response = upload(setup, [("good.png", png_bytes(1)), ("cut.png", truncated_png(2))])
    assert_refused(setup, response, 422, "cut.png: the image is truncated or corrupt")


def test_decompression_bomb(setup):
    response = upload(setup, [("bomb.png", bomb_png())])
    assert_refused(setup, response, 413, "decompression bomb")


def test_file_over_the_byte_limit(setup):
    setup.settings.max_file_bytes = 2_000
    response = upload(setup, [("big.png", png_bytes(1, size=(200, 200)))])
    assert_refused(setup, response, 413, "ARENA_MAX_FILE_BYTES")


def test_image_count_over_the_limit(setup):
    setup.settings.max_images_per_batch = 3
    response = upload(setup, [(f"{i}.png", png_bytes(i)) for i in range(4)])
    assert_refused(setup, response, 413, "ARENA_MAX_IMAGES_PER_BATCH")


def test_empty_batch(setup):
    response = setup.client.post(
        "/api/generators/gen-a/batches",
        files=[("prompt_set", (None, "parti-mini"))],
        headers=setup.headers,
    )
    assert_refused(setup, response, 422, "the batch holds no images")


def test_not_multipart(setup):
    response = setup.client.post("/api/generators/gen-a/batches", json={}, headers=setup.headers)
    assert_refused(setup, response, 422, "multipart/form-data")


@pytest.mark.parametrize("member", ["../escape.png", "/etc/abs.png", "a/../../b.png"])
def test_zip_path_traversal(setup, member):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.png", png_bytes(1))
        archive.writestr(member, png_bytes(2))
    response = setup.client.post(
        "/api/generators/gen-a/batches",
        files=[("archive", ("x.zip", buffer.getvalue(), "application/zip"))],
        headers=setup.headers,
    )
    assert_refused(setup, response, 422, "absolute or '..' path")


def test_zip_over_the_uncompressed_limit(setup):
    setup.settings.max_zip_uncompressed_bytes = 50_000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"{i}.png", png_bytes(i, size=(100, 100)))
    response = setup.client.post(
        "/api/generators/gen-a/batches",
        files=[("archive", ("x.zip", buffer.getvalue(), "application/zip"))],
        headers=setup.headers,
    )
    assert_refused(setup, response, 413, "ARENA_MAX_ZIP_UNCOMPRESSED_BYTES")


def test_not_a_zip(setup):
    response = setup.client.post(
        "/api/generators/gen-a/batches",
        files=[("archive", ("x.zip", b"PK but not really", "application/zip"))],
        headers=setup.headers,
    )
    assert_refused(setup, response, 422, "not a valid zip")


def test_manifest_names_an_absent_file(setup):
    response = upload(setup, [("a.png", png_bytes(1))], {"a.png": "p0", "ghost.png": "p1"})
    assert_refused(setup, response, 422, "not in the upload: ['ghost.png']")


def test_file_missing_from_manifest(setup):
    response = upload(setup, [("a.png", png_bytes(1)), ("b.png", png_bytes(2))], {"a.png": "p0"})
    assert_refused(setup, response, 422, "missing from the manifest: ['b.png']")


def test_manifest_names_an_unknown_prompt(setup):
    response = upload(setup, [("a.png", png_bytes(1))], {"a.png": "p404"})
    assert_refused(setup, response, 422, "prompt(s) that do not exist: 'p404'")


def test_manifest_that_is_not_json(setup):
    parts = [
        ("files", ("a.png", png_bytes(1))),
        ("manifest", ("m.json", "{not json", "application/json")),
    ]
    response = setup.client.post(
        "/api/generators/gen-a/batches", files=parts, headers=setup.headers
    )
    assert_refused(setup, response, 422, "not valid JSON")


def test_duplicate_file_names(setup):
    response = upload(setup, [("a.png", png_bytes(1)), ("a.png", png_bytes(2))])
    assert_refused(setup, response, 422, "appear more than once")


def test_unknown_prompt_set(setup):
    response = upload(
        setup, [("a.png", png_bytes(1))], {"a.png": "p0"}, extra={"prompt_set": "nope"}
    )
    assert_refused(setup, response, 404, "no prompt set 'nope'")


def test_failure_after_valid_files_removes_their_media(setup):
    """Files written for the good images of a failed batch are deleted again."""
    files = [(f"{i}.png", png_bytes(i)) for i in range(5)] + [("z.png", b"\x89PNG broken")]
    response = upload(setup, files)
    assert_refused(setup, response, 422, "1 of 6 file(s) rejected")
