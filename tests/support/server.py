"""A real `arena serve` process on a free loopback port, for what TestClient cannot show:
an event loop that must stay responsive, uvicorn's proxy settings, a kill -9 mid-upload."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from app.settings import Settings
from tests.support.served import free_port


def arena_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes `arena ...` use `settings` (plus ARENA_* overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        ARENA_DATABASE_URL=settings.database_url,
        ARENA_MEDIA_DIR=str(settings.media_dir),
        ARENA_SECRET_KEY=settings.secret_key or "test-secret",
        ARENA_SECRET_KEY_FILE=str(settings.secret_key_file),
        ARENA_MAX_REQUEST_BYTES=str(settings.max_request_bytes),
        ARENA_MAX_CONCURRENT_DECODES=str(settings.max_concurrent_decodes),
    )
    env.update({f"ARENA_{k.upper()}": v for k, v in extra.items()})
    return env


def arena_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from app.cli.main import main; main()", *args]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen

    def kill(self) -> None:
        """SIGKILL: no clean-up handler runs, as when the machine or the OOM killer stops it."""
        self.process.kill()
        self.process.wait(timeout=10)


@contextmanager
def arena_server(settings: Settings, workers: int = 1, **extra_env: str) -> Iterator[ServerProcess]:
    """`arena serve` with `workers` processes (default one: a SIGKILL then ends the server, where
    several would leave their worker processes behind)."""
    port = free_port()
    process = subprocess.Popen(
        arena_command(
            "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)
        ),
        env=arena_env(settings, **extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"arena serve exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("arena serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield ServerProcess(url, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stderr.close()


def admin_key(settings: Settings) -> str:
    """A fresh admin key in `settings`' database (migrated by the caller's fixture)."""
    from app.db import make_engine, make_session_factory
    from app.services.api_keys import create_api_key

    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            _row, key = create_api_key(session, "server tests")
            session.commit()
    finally:
        engine.dispose()
    return key


def noise_png(seed: int, side: int) -> bytes:
    """A PNG of random pixels: slow to decode and re-encode, what makes an upload take seconds."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()
