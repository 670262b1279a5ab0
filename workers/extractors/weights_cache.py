"""Downloaded network weights: `arena weights fetch NAME` and `arena weights list`.

Each named entry says where the file comes from and how its sha256 is known: pinned here (the
pytorch-fid checkpoint carries the first 8 hex digits in its name, torch.hub's convention), or
declared by the Hugging Face hub (the X-Linked-Etag of an LFS
file is its sha256). A download goes to a temporary file, is hashed while it streams, and only a
file whose digest matches is moved into the cache; a manifest records name, file and sha256, and
`list` re-hashes every file against it. Nothing here runs at test time against the network: the
transport is a parameter (tests pass a fake one).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.extractors.base import ExtractorUnavailable
from workers.extractors.weights import sha256_file

MANIFEST = "manifest.json"
DEFAULT_DIR = Path("~/.cache/gallery-arena/weights")


@dataclass(frozen=True)
class WeightSpec:
    name: str
    url: str
    filename: str
    what: str
    # Full digest or a leading prefix; None: the server must declare it (Hugging Face).
    sha256: str | None = None
    # How a worker uses it: "inception-classifier", "clip:<open_clip model>", "dinov2:<timm model>".
    use: str = ""


def _hf(repo: str, filename: str) -> str:
    return f"https://huggingface.co/{repo}/resolve/main/{filename}"


SPECS = {
    spec.name: spec
    for spec in (
        WeightSpec(
            "inception-classifier",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
            "pt_inception-2015-12-05-6726825d.pth",
            "pytorch-fid's FID InceptionV3 with its 1008-way classifier (Inception Score)",
            sha256="6726825d",
            use="inception-classifier",
        ),
        WeightSpec(
            "clip-vit-b-32",
            _hf("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_pytorch_model.bin"),
            "open_clip-ViT-B-32-laion2b_s34b_b79k.bin",
            "open_clip ViT-B-32 trained on LAION-2B (CLIP score, CMMD, diversity)",
            use="clip:ViT-B-32",
        ),
        WeightSpec(
            "dinov2-vitl14",
            _hf("timm/vit_large_patch14_dinov2.lvd142m", "model.safetensors"),
            "dinov2-vit_large_patch14_dinov2.lvd142m.safetensors",
            "DINOv2 ViT-L/14 (FD-DINOv2, Stein et al. 2023)",
            use="dinov2:vit_large_patch14_dinov2.lvd142m",
        ),
    )
}


class WeightsError(RuntimeError):
    """A fetch that cannot complete (unknown name, no digest, mismatch, transport failure)."""


# A transport opens a URL and yields (headers, chunks of bytes).
Transport = Callable[[str], AbstractContextManager[tuple[dict[str, str], Iterator[bytes]]]]


class _UrllibResponse(AbstractContextManager):
    def __init__(self, url: str) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "gallery-arena"})
        self.response = urllib.request.urlopen(request, timeout=60)

    def __enter__(self):
        headers = {k.lower(): v for k, v in self.response.headers.items()}
        return headers, iter(lambda: self.response.read(1 << 20), b"")

    def __exit__(self, *exc) -> None:
        self.response.close()


def urllib_transport(url: str) -> _UrllibResponse:
    return _UrllibResponse(url)


def weights_dir(configured: str | os.PathLike | None) -> Path:
    return Path(configured).expanduser() if configured else DEFAULT_DIR.expanduser()


def _manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".manifest-")
    with os.fdopen(handle, "w") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)
    os.replace(temporary, root / MANIFEST)


def _declared_sha256(headers: dict[str, str]) -> str | None:
    """The sha256 the Hugging Face hub declares for an LFS file (X-Linked-Etag)."""
    value = headers.get("x-linked-etag") or ""
    value = value.strip().removeprefix("W/").strip('"')
    return value.lower() if len(value) == 64 else None


def fetch(name: str, root: Path, transport: Transport = urllib_transport) -> Path:
    """Download weights `name` into `root` and verify their sha256; returns the file's path."""
    spec = SPECS.get(name)
    if spec is None:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(SPECS)}")
    root.mkdir(parents=True, exist_ok=True)
    target = root / spec.filename
    handle, temporary = tempfile.mkstemp(dir=root, prefix=f".{spec.filename}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        try:
            with transport(spec.url) as (headers, chunks), os.fdopen(handle, "wb") as out:
                expected = spec.sha256 or _declared_sha256(headers)
                if expected is None:
                    raise WeightsError(
                        f"{spec.url} declared no sha256 and none is pinned for {name}: refusing "
                        "unverifiable weights"
                    )
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise WeightsError(f"downloading {spec.url} failed: {exc}") from exc
        actual = digest.hexdigest()
        if not actual.startswith(expected.lower()):
            raise WeightsError(
                f"sha256 mismatch for {name} from {spec.url}: expected {expected}, got {actual}; "
                "nothing was stored"
            )
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    manifest = _manifest(root)
    manifest[name] = {"file": spec.filename, "sha256": actual, "url": spec.url, "use": spec.use}
    _write_manifest(root, manifest)
    return target


def listing(root: Path) -> list[dict[str, Any]]:
    """Every known entry: present and verified, present but changed, or absent (and how to get it)."""
    manifest = _manifest(root)
    out = []
    for name, spec in SPECS.items():
        entry = manifest.get(name)
        path = root / spec.filename
        if entry is None or not path.is_file():
            state = "absent"
        else:
            state = "ok" if sha256_file(path) == entry["sha256"] else "sha256 mismatch"
        out.append(
            {
                "name": name,
                "state": state,
                "path": str(path) if state != "absent" else None,
                "sha256": entry["sha256"] if entry else None,
                "what": spec.what,
                "use": spec.use,
            }
        )
    return out


def cached_path(use: str, root: Path) -> Path | None:
    """The verified cached file serving `use` ("inception-classifier", "clip:ViT-B-32", ...)."""
    manifest = _manifest(root)
    for name, spec in SPECS.items():
        entry = manifest.get(name)
        if spec.use != use or entry is None:
            continue
        path = root / entry["file"]
        if path.is_file() and sha256_file(path) == entry["sha256"]:
            return path
    return None


def fetch_hint(use: str) -> str:
    """The command that provides weights for `use`, for "unavailable" reasons."""
    names = [spec.name for spec in SPECS.values() if spec.use == use]
    if not names:
        return "no `arena weights fetch` entry provides these weights; configure a local file"
    return f"run `arena weights fetch {names[0]}` on a machine with internet"


def require_cached(use: str, root: Path, what: str) -> Path:
    path = cached_path(use, root)
    if path is None:
        raise ExtractorUnavailable(f"no {what} weights in {root}: {fetch_hint(use)}")
    return path
