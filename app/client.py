"""An HTTP client for admins: uploads a folder to a remote server (`arena push`) and reads its
job queue (`arena jobs --server`), with nothing but the server URL and an API key.

Uploads go through the same batch route as any API client (POST .../batches: all-or-nothing,
validated on the server). Before each batch the client asks which file hashes the server already
holds and leaves those out, so an interrupted push resumes where it stopped and a batch whose
response was lost is never stored twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
PROMPT_FILES = ("manifest.json", "manifest.csv", "prompts.json", "prompts.csv")
# Answers worth another try: the request may succeed later. Everything else is final.
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class ClientError(Exception):
    """A refusal or failure the user must act on; the message says what happened."""


@dataclass(frozen=True)
class LocalImage:
    name: str  # relative POSIX path: the name the manifest and the server use
    path: Path
    size: int
    sha256: str


@dataclass
class PushResult:
    batch_ids: list[int] = field(default_factory=list)
    uploaded: int = 0
    skipped: int = 0
    retries: int = 0


class ArenaClient:
    """JSON API calls with the admin key, retrying transient failures with backoff."""

    def __init__(
        self,
        server_url: str,
        api_key: str,
        *,
        retries: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retries = retries
        self.backoff = backoff_seconds
        self.sleep = sleep
        self.retried = 0
        self.http = httpx.Client(
            base_url=server_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ArenaClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, before_retry: Callable[[], bool] | None = None, **kwargs
    ) -> httpx.Response:
        """Send; on a transient failure wait and send again (up to `retries` more times).

        `before_retry` runs before each new try; returning False stops (the work is done).
        """
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", None
            else:
                if response.status_code not in TRANSIENT_STATUSES:
                    return _checked(response)
                problem = f"HTTP {response.status_code}: {_detail(response)}"
                wait = _retry_after(response)
            if attempt == self.retries:
                raise ClientError(f"{method} {path} failed {attempt + 1} times; last: {problem}")
            self.retried += 1
            self.sleep(wait if wait is not None else self.backoff * 2**attempt)
            if before_retry is not None and not before_retry():
                return None  # type: ignore[return-value]
        raise AssertionError("unreachable")

    def known(self, owner_path: str, hashes: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(hashes), 5_000):
            response = self.request(
                "POST", f"{owner_path}/images/known", json={"sha256": hashes[start : start + 5_000]}
            )
            known.update(response.json()["known"])
        return known

    def jobs(self, status: str | None = None, limit: int = 30) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self.request("GET", "/api/jobs", params=params).json()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return min(float(value), 120.0) if value.replace(".", "", 1).isdigit() else None


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    detail = _detail(response)
    if response.status_code in (401, 403):
        detail += " (set ARENA_API_KEY or api_key in the config file)"
    raise ClientError(f"the server refused {response.request.url.path}: {detail}")


def owner_path(generator: str | None, reference_set: str | None) -> str:
    if (generator is None) == (reference_set is None):
        raise ClientError("give exactly one of --generator NAME or --reference-set NAME")
    if generator is not None:
        return f"/api/generators/{generator}"
    return f"/api/reference-sets/{reference_set}"


def scan_folder(directory: Path) -> list[LocalImage]:
    """Image files under `directory` (by suffix; the server decodes and checks each one)."""
    images = []
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
            images.append(
                LocalImage(
                    path.relative_to(directory).as_posix(),
                    path,
                    path.stat().st_size,
                    digest.hexdigest(),
                )
            )
    return images


def batches(images: list[LocalImage], max_files: int, max_bytes: int) -> Iterator[list[LocalImage]]:
    """Consecutive groups of at most max_files files and (unless one file is larger) max_bytes."""
    group: list[LocalImage] = []
    size = 0
    for image in images:
        if group and (len(group) >= max_files or size + image.size > max_bytes):
            yield group
            group, size = [], 0
        group.append(image)
        size += image.size
    if group:
        yield group


def push_folder(
    client: ArenaClient,
    directory: Path,
    owner: str,
    *,
    manifest: dict[str, str] | None = None,
    prompt_set: str | None = None,
    batch_files: int = 100,
    batch_bytes: int = 256 * 1024 * 1024,
    on_progress: Callable[[int, int], None] = lambda files, size: None,
    on_batch: Callable[[int, int], None] = lambda batch_id, files: None,
) -> PushResult:
    """Upload every image under `directory` the server does not hold yet, batch by batch.

    on_progress(files, bytes) reports each finished or skipped group; on_batch(id, files) each
    stored batch. Raises ClientError; the batches stored before it stay stored (resume).
    """
    images = scan_folder(directory)
    if not images:
        raise ClientError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {directory}")
    if manifest is not None:
        missing = [i.name for i in images if i.name not in manifest]
        if missing:
            raise ClientError(
                f"{len(missing)} image(s) are missing from the manifest: {missing[:10]}"
            )
    result = PushResult()
    known = client.known(owner, [i.sha256 for i in images])
    todo = [i for i in images if i.sha256 not in known]
    result.skipped = len(images) - len(todo)
    on_progress(result.skipped, sum(i.size for i in images if i.sha256 in known))
    for group in batches(todo, batch_files, batch_bytes):
        try:
            batch = _upload(client, owner, group, manifest, prompt_set)
        except ClientError as exc:
            stored = f"batches {result.batch_ids} are" if result.batch_ids else "nothing is"
            raise ClientError(
                f"{exc}\n{stored} stored from this run; run the same command to upload the rest"
            ) from None
        if batch is not None:
            result.batch_ids.append(batch["id"])
            result.uploaded += batch["n_images"]
            on_batch(batch["id"], batch["n_images"])
        else:
            result.skipped += len(group)
        on_progress(len(group), sum(i.size for i in group))
    result.retries = client.retried
    return result


def _upload(
    client: ArenaClient,
    owner: str,
    group: list[LocalImage],
    manifest: dict[str, str] | None,
    prompt_set: str | None,
) -> dict[str, Any] | None:
    """One batch; None when a retry finds the server already stored it (a lost response)."""
    hashes = {i.sha256 for i in group}
    handles = []

    def retry_needed() -> bool:
        known = client.known(owner, sorted(hashes))
        if known == hashes:
            return False  # stored, only the answer was lost
        if known:
            # Batches are all-or-nothing, so someone else uploaded part of this one meanwhile.
            raise ClientError(
                f"{len(known)} of this batch's {len(hashes)} files appeared on the server while "
                "retrying; run the same push again to upload the rest"
            )
        for handle in handles:
            handle.seek(0)
        return True

    try:
        files: list[tuple[str, Any]] = []
        for image in group:
            handle = open(image.path, "rb")  # noqa: SIM115 - closed below, after the request
            handles.append(handle)
            files.append(("files", (image.name, handle, "application/octet-stream")))
        data = {"prompt_set": prompt_set} if prompt_set else {}
        if manifest is not None:
            subset = {i.name: manifest[i.name] for i in group}
            files.append(("manifest", ("manifest.json", json.dumps(subset), "application/json")))
        response = client.request(
            "POST", f"{owner}/batches", files=files, data=data, before_retry=retry_needed
        )
    finally:
        for handle in handles:
            handle.close()
    return None if response is None else response.json()
