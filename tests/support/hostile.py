"""Hostile payloads: zips Python cannot read, bodies nested too deep, fields over the limits."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

from app.settings import Settings

LIMITS = {
    "max_request_bytes": 2 * 1024 * 1024,
    "max_file_bytes": 512 * 1024,
    "max_images_per_batch": 3,
}

DEEP = 200_000  # nesting depth that overflowed Python's JSON parser into a 500


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _patch_headers(data: bytes, offset_local: int, offset_central: int, value: bytes) -> bytes:
    """Overwrite a field in every local file header and central-directory entry."""
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        start = raw.find(signature)
        while start != -1:
            raw[start + offset : start + offset + len(value)] = value
            start = raw.find(signature, start + 4)
    return bytes(raw)


def encrypted_zip(name: str, data: bytes) -> bytes:
    """A zip whose member carries the 'encrypted' flag (bit 0 of the general-purpose flags)."""
    return _patch_headers(zip_bytes({name: data}), 6, 8, b"\x01\x00")


def deflate64_zip(name: str, data: bytes) -> bytes:
    """A zip whose member claims compression method 9 (Deflate64), which zipfile cannot read."""
    return _patch_headers(zip_bytes({name: data}), 8, 10, b"\x09\x00")


def mode_png(mode: str, size=(16, 8)) -> bytes:
    """A PNG saved from a `mode` image with a known gradient (see tests/test_imaging.py)."""
    out = io.BytesIO()
    mode_image(mode, size).save(out, format="PNG")
    return out.getvalue()


def mode_image(mode: str, size=(16, 8)) -> Image.Image:
    import numpy as np

    width, height = size
    ramp = np.tile(np.linspace(0, 1, width), (height, 1))
    if mode == "I;16":
        return Image.fromarray((ramp * 65535).round().astype(np.uint16))  # mode I;16
    grey = Image.fromarray((ramp * 255).round().astype(np.uint8), "L")
    if mode == "L":
        return grey
    if mode == "LA":
        return Image.merge("LA", (grey, grey.point(lambda _: 128)))
    rgb = Image.merge("RGB", (grey, grey.point(lambda v: 255 - v), grey.point(lambda _: 64)))
    if mode == "P":
        return rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    if mode == "RGBA":
        return Image.merge("RGBA", (*rgb.split(), grey))
    if mode == "CMYK":
        return rgb.convert("CMYK")
    return rgb


@dataclass
class Hostile:
    client: object
    headers: dict[str, str]
    session_factory: object
    settings: Settings
    app: object


@contextmanager
def hostile_app(request, tmp_path_factory) -> Iterator[Hostile]:
    """An app on request.param's backend with tight limits, seeded with two generators, a
    reference set, a prompt set and a study (for module-scoped fixtures)."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.migrate import upgrade
    from app.services.api_keys import create_api_key

    root = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'arena.db'}"
        upgrade(Settings(database_url=url))
    else:
        from tests.conftest import _truncate_all

        url = request.getfixturevalue("_postgres_schema")
        _truncate_all(url)
    settings = Settings(
        database_url=url,
        media_dir=root / "media",
        secret_key="test-secret-key-not-for-production",
        secret_key_file=root / "secret",
        **LIMITS,
    )
    app = create_app(settings)
    with app.state.session_factory() as session:
        _row, key = create_api_key(session, "hostile")
        session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, body in (
            ("/api/generators", {"name": "gen-a"}),
            ("/api/generators", {"name": "gen-b"}),
            ("/api/reference-sets", {"name": "ref-a"}),
            (
                "/api/prompt-sets",
                {"name": "set-a", "prompts": [{"external_id": "p0", "text": "a red cube"}]},
            ),
        ):
            assert client.post(path, json=body, headers=headers).status_code == 201
        study = {"name": "study-a", "kind": "pairwise", "generators": ["gen-a", "gen-b"]}
        assert client.post("/api/studies", json=study, headers=headers).status_code == 201
        yield Hostile(client, headers, app.state.session_factory, settings, app)
    app.state.engine.dispose()


def multipart(files=(), fields=None, archive=None, manifest=None):
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    if archive is not None:
        parts.append(("archive", ("batch.zip", archive, "application/zip")))
    if manifest is not None:
        parts.append(("manifest", manifest))
    for key, value in (fields or {}).items():
        parts.append((key, (None, value)))
    return {"files": parts}
