"""`arena media gc` after a server was killed (SIGKILL) in the middle of an upload."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from app.models import Image
from tests.support.imagefactory import png_bytes
from tests.support.server import admin_key, arena_command, arena_env, arena_server, noise_png


def stored_shas(root: Path) -> set[str]:
    return {p.name.split(".")[0] for d in ("originals", "served") for p in (root / d).glob("*/*")}


@pytest.mark.slow
def test_gc_after_a_server_is_killed_mid_upload(settings):
    key = admin_key(settings)
    headers = {"Authorization": f"Bearer {key}"}
    media = Path(settings.media_dir)
    with arena_server(settings) as server:
        client = httpx.Client(base_url=server.url, headers=headers, timeout=60)
        assert client.post("/api/generators", json={"name": "gen-a"}).status_code == 201
        kept = client.post(
            "/api/generators/gen-a/batches", files=[("files", ("kept.png", png_bytes(1)))]
        )
        assert kept.status_code == 201, kept.text

        # Slow enough to be caught while decoding: several large noise images.
        slow = [("files", (f"{i}.png", noise_png(i, 1400), "image/png")) for i in range(8)]
        errors: list[Exception] = []

        def doomed_upload() -> None:
            try:
                client.post("/api/generators/gen-a/batches", files=slow)
            except httpx.TransportError as exc:
                errors.append(exc)

        thread = threading.Thread(target=doomed_upload)
        thread.start()
        deadline = time.monotonic() + 120
        while not (media / "tmp").exists() or not any((media / "tmp").iterdir()):
            assert time.monotonic() < deadline, "the upload never staged a file"
            time.sleep(0.02)
        server.kill()
        thread.join(60)
        client.close()
    assert errors, "the upload finished before the server was killed"
    assert any((media / "tmp").iterdir()), "the kill left no temporary file to collect"

    result = subprocess.run(
        arena_command("media", "gc", "--grace-hours", "0"),
        env=arena_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["removed"] >= 1 and report["kept_referenced"] == 2

    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        rows = set(conn.scalars(select(Image.sha256)))
    engine.dispose()
    assert len(rows) == 1
    assert not any((media / "tmp").iterdir())
    assert stored_shas(media) == rows  # both files of the committed image, nothing else


def test_gc_leaves_young_files_alone(settings):
    orphan = Path(settings.media_dir) / "originals" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"from an upload that may still be running")
    result = subprocess.run(
        arena_command("media", "gc"),  # default grace: 24 hours
        env=arena_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kept_young"] == 1 and orphan.exists()
