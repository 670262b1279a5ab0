"""`arena weights fetch/list` and the weights cache, with a fake transport: nothing is downloaded.

The fake serves bytes and headers the way the real hosts do (a Hugging Face LFS file declares its
sha256 in X-Linked-Etag); tiny random-weight networks stand in for CLIP and DINOv2.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.workers.conftest import TINY_CLIP
from workers.extractors import ExtractorUnavailable, weights_cache
from workers.extractors.weights_cache import SPECS, WeightsError, WeightSpec

PAYLOAD = b"weights " * 1000


def fake_transport(served: dict[str, tuple[bytes, dict[str, str]]], calls: list[str]):
    @contextmanager
    def transport(url: str):
        calls.append(url)
        data, headers = served[url]
        yield headers, iter([data[:100], data[100:]])

    return transport


@pytest.fixture
def specs(monkeypatch):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    for spec in (
        WeightSpec("pinned", "https://example.org/a.pth", "a.pth", "pinned", sha256=digest[:8]),
        WeightSpec("hub", "https://huggingface.co/x/resolve/main/b.bin", "b.bin", "declared"),
    ):
        monkeypatch.setitem(SPECS, spec.name, spec)
    return digest


def test_fetch_verifies_pinned_and_declared_digests_and_list_rechecks(specs, tmp_path):
    calls: list[str] = []
    served = {
        "https://example.org/a.pth": (PAYLOAD, {}),
        "https://huggingface.co/x/resolve/main/b.bin": (PAYLOAD, {"x-linked-etag": f'"{specs}"'}),
    }
    transport = fake_transport(served, calls)
    assert weights_cache.fetch("pinned", tmp_path, transport).read_bytes() == PAYLOAD
    assert weights_cache.fetch("hub", tmp_path, transport).name == "b.bin"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pinned"]["sha256"] == manifest["hub"]["sha256"] == specs
    states = {e["name"]: e["state"] for e in weights_cache.listing(tmp_path)}
    assert states["pinned"] == states["hub"] == "ok" and states["inception-classifier"] == "absent"
    # A file changed on disk is reported and no longer served to workers.
    (tmp_path / "a.pth").write_bytes(b"tampered")
    assert {e["name"]: e["state"] for e in weights_cache.listing(tmp_path)}["pinned"] == (
        "sha256 mismatch"
    )
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("name", "headers", "message"),
    [
        ("hub", {"x-linked-etag": '"' + "0" * 64 + '"'}, "sha256 mismatch"),
        ("hub", {}, "declared no sha256"),
    ],
)
def test_unverified_downloads_leave_nothing(specs, tmp_path, name, headers, message):
    served = {SPECS[name].url: (PAYLOAD, headers)}
    with pytest.raises(WeightsError, match=message):
        weights_cache.fetch(name, tmp_path, fake_transport(served, []))
    assert [p.name for p in tmp_path.iterdir()] == []


def test_unknown_name_and_cli(tmp_path, monkeypatch):
    from app.cli.main import app

    monkeypatch.setenv("ARENA_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match="unknown weights 'nope'; known: inception-classifier"):
        weights_cache.fetch("nope", tmp_path)
    runner = CliRunner()
    listed = runner.invoke(app, ["weights", "list"])
    assert listed.exit_code == 0
    for name in ("inception-classifier", "clip-vit-b-32", "dinov2-vitl14"):
        assert name in listed.stdout
    assert "absent" in listed.stdout
    refused = runner.invoke(app, ["weights", "fetch", "nope"])
    assert refused.exit_code == 2 and "unknown weights" in refused.stderr


def test_workers_use_the_cache_and_name_the_command_when_it_is_empty(
    settings, tiny_clip_checkpoint, tmp_path, monkeypatch
):
    from workers.runner import Worker

    data = tiny_clip_checkpoint.read_bytes()
    spec = WeightSpec(
        "clip-tiny",
        "https://huggingface.co/t/resolve/main/tiny.bin",
        "tiny.bin",
        "tiny CLIP",
        use=f"clip:{TINY_CLIP}",
    )
    monkeypatch.setitem(SPECS, spec.name, spec)
    headers = {"x-linked-etag": hashlib.sha256(data).hexdigest()}
    cached = weights_cache.fetch(
        "clip-tiny", tmp_path, fake_transport({spec.url: (data, headers)}, [])
    )

    worker = Worker(settings.model_copy(update={"weights_dir": tmp_path, "clip_model": TINY_CLIP}))
    assert str(worker.extractor("clip").weights_path) == str(cached)
    empty = Worker(settings.model_copy(update={"weights_dir": tmp_path / "empty"}))
    with pytest.raises(ExtractorUnavailable, match="arena weights fetch inception-classifier"):
        empty.extractor("inception-logits")
    with pytest.raises(ExtractorUnavailable, match="arena weights fetch dinov2-vitl14"):
        empty.extractor("dinov2")
    with pytest.raises(ExtractorUnavailable, match="arena weights fetch clip-vit-b-32"):
        empty.extractor("clip")


def test_dinov2_extractor_with_a_tiny_random_model(tmp_path, skimage_real_photos):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    from workers.extractors.dinov2 import DinoV2Extractor

    tiny = {"embed_dim": 24, "depth": 1, "num_heads": 2}
    torch.manual_seed(0)
    # Saved at DINOv2's native 518 pixels: the extractor resamples the position embeddings.
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, **tiny)
    path = tmp_path / "tiny-dinov2.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    extractor = DinoV2Extractor(path, model_name="vit_small_patch14_dinov2", model_kwargs=tiny)
    photos = list(skimage_real_photos.values())[:3]
    features = extractor.embed_images(photos, batch_size=2)
    assert features.shape == (3, 24) and np.isfinite(features).all()
    assert extractor.dimension == 24 and "224" in extractor.version
    np.testing.assert_allclose(features, extractor.embed_images(photos, batch_size=3), atol=1e-5)
    # The DataLoader path (worker processes, as on CUDA) gives the same features.
    np.testing.assert_allclose(
        features, extractor.embed_images(photos, batch_size=2, loader="processes"), atol=1e-5
    )
