"""The media store: a failing upload never removes a file another upload uses, and the garbage
collector removes only what no row references, once older than its grace period."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.errors import InvalidInput
from app.media import MediaStore, collect_garbage
from app.models import Image
from app.services.catalog.generators import get_generator
from app.services.catalog.images import referenced_shas
from app.services.uploads import IncomingFile, store_batch
from tests.support.imagefactory import png_bytes


@pytest.fixture
def store_and_generator(arena):
    assert (
        arena.client.post(
            "/api/generators", json={"name": "gen-a"}, headers=arena.headers
        ).status_code
        == 201
    )
    return MediaStore(arena.settings.media_dir)


def upload(arena, name: str, data: bytes):
    files = [("files", (name, data, "image/png"))]
    return arena.client.post("/api/generators/gen-a/batches", files=files, headers=arena.headers)


def media_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_a_failing_upload_keeps_the_file_a_committed_upload_shares(arena, store_and_generator):
    """Upload B stages image X, upload A (also X) commits, then B fails: X must survive.

    Before the store staged files, B had written X in place and deleted it on rollback, so
    A's image answered 404 (issue 16, 3 of 3 trials)."""
    store = store_and_generator
    shared = png_bytes(7)
    b_staged = threading.Event()
    a_committed = threading.Event()
    outcome: dict[str, object] = {}

    def gate(limit: int) -> bytes:
        b_staged.set()  # X is staged by now: files are read in order
        assert a_committed.wait(30)
        return b"this is not an image"

    def upload_b() -> None:
        with arena.session_factory() as session:
            try:
                store_batch(
                    session,
                    store,
                    arena.settings,
                    files=[
                        IncomingFile("x.png", lambda limit: shared[:limit]),
                        IncomingFile("bad.png", gate),
                    ],
                    generator=get_generator(session, "gen-a"),
                )
                session.commit()
            except InvalidInput as exc:
                session.rollback()
                outcome["b"] = exc

    thread = threading.Thread(target=upload_b)
    thread.start()
    assert b_staged.wait(30)
    response_a = upload(arena, "x.png", shared)
    a_committed.set()
    thread.join(30)
    assert response_a.status_code == 201, response_a.text
    assert isinstance(outcome.get("b"), InvalidInput)

    images = arena.client.get("/api/generators/gen-a/images", headers=arena.headers).json()
    assert len(images) == 1
    served = arena.client.get(f"/media/{images[0]['public_id']}", headers=arena.headers)
    assert served.status_code == 200
    sha = images[0]["sha256"]
    assert store.original_path(sha).read_bytes() == shared
    assert store.served_path(sha).exists()
    assert not list(store.tmp_dir.iterdir()), "B's temporaries were not removed"


def test_both_orders_of_two_uploads_of_one_image_keep_it(arena, store_and_generator):
    """A commits while B, with the same image, is still decoding; then B commits too."""
    store = store_and_generator
    shared = png_bytes(8)
    assert upload(arena, "one.png", shared).status_code == 201
    assert upload(arena, "two.png", shared).status_code == 201
    with arena.session_factory() as session:
        shas = list(session.scalars(select(Image.sha256)))
    assert len(shas) == 2 and len(set(shas)) == 1
    assert store.original_path(shas[0]).exists() and store.served_path(shas[0]).exists()


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_gc_removes_only_unreferenced_files_older_than_the_grace(arena, store_and_generator):
    store = store_and_generator
    assert upload(arena, "kept.png", png_bytes(9)).status_code == 201
    referenced = media_files(store.root)
    orphan_old = store.original_path("ab" + "0" * 62)
    orphan_young = store.served_path("cd" + "0" * 62)
    temp_old = store.tmp_dir / "upload-dead"
    for path in (orphan_old, orphan_young, temp_old):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left by a killed upload")
    for path in (*referenced, orphan_old, temp_old):
        _age(path, 7200)

    with arena.session_factory() as session:
        report = collect_garbage(store, lambda shas: referenced_shas(session, shas), 3600)
    assert set(report.removed) == {orphan_old, temp_old}
    assert report.kept_referenced == 2 and report.kept_young == 1
    assert media_files(store.root) == referenced | {orphan_young}


def test_gc_dry_run_removes_nothing(arena, store_and_generator):
    store = store_and_generator
    orphan = store.original_path("ef" + "0" * 62)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    with arena.session_factory() as session:
        report = collect_garbage(store, lambda s: referenced_shas(session, s), 0, dry_run=True)
    assert report.removed == [orphan] and orphan.exists()


def test_put_bytes_links_on_commit_and_not_on_rollback(arena):
    store = MediaStore(arena.settings.media_dir)
    kept, dropped = store.root / "extra" / "kept.bin", store.root / "extra" / "dropped.bin"
    with arena.session_factory() as session:
        assert store.put_bytes(session, kept, b"kept")
        assert not kept.exists()  # not visible before the commit
        session.commit()
    with arena.session_factory() as session:
        store.put_bytes(session, dropped, b"dropped")
        session.rollback()
    assert kept.read_bytes() == b"kept" and not dropped.exists()
    assert not list(store.tmp_dir.iterdir())
