"""Fixtures for worker tests. Real photographs come from the scikit-image wheel (offline)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# A randomly initialised open_clip model registered by the tiny_clip_checkpoint fixture.
TINY_CLIP = "arena-test-tiny-random-clip"

# skimage.data loaders of real photographs bundled in the wheel (no pooch download needed).
SKIMAGE_REAL_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
)


def load_skimage_real_photos() -> dict[str, Image.Image]:
    """Real RGB photographs shipped in scikit-image, by name (the stereo pair as two entries)."""
    data = pytest.importorskip(
        "skimage.data", reason="scikit-image (dev extra) provides the photos"
    )
    photos = {name: Image.fromarray(getattr(data, name)()) for name in SKIMAGE_REAL_PHOTOS}
    left, right, _disparity = data.stereo_motorcycle()
    photos["motorcycle_left"] = Image.fromarray(left)
    photos["motorcycle_right"] = Image.fromarray(right)
    return photos


def real_photo_crops(photos: list[Image.Image], count: int, seed: int) -> list[Image.Image]:
    """`count` random square crops (45-90% of the short side) of real photos, seeded."""
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        photo = photos[index % len(photos)]
        width, height = photo.size
        side = int(rng.uniform(0.45, 0.9) * min(width, height))
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
        crops.append(photo.crop((left, top, left + side, top + side)))
    return crops


@pytest.fixture(scope="session")
def skimage_real_photos() -> dict[str, Image.Image]:
    return load_skimage_real_photos()


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory) -> Path:
    """A tiny randomly initialised open_clip model (vision width 64), registered and saved here."""
    open_clip = pytest.importorskip("open_clip", reason="open_clip_torch (worker extra)")
    folder = tmp_path_factory.mktemp("tiny_clip")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    }
    config_path = folder / f"{TINY_CLIP}.json"
    config_path.write_text(json.dumps(config))
    open_clip.add_model_config(config_path)
    torch = pytest.importorskip("torch", reason="torch (worker extra)")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP, pretrained=None)
    checkpoint = folder / "tiny_random_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return checkpoint


# Modules that check the networks themselves against pytorch-fid and clean-fid run them for real.
NETWORK_CHECKS = {"tests.workers.test_extractors", "tests.workers.test_preprocessing_modes"}


@pytest.fixture(autouse=True)
def _remembered_network_outputs(request):
    """Pipeline tests push the same photographs through the real networks: rows seen earlier in
    the session are answered from memory (tests/support/network_memo.py)."""
    if request.module.__name__ in NETWORK_CHECKS or importlib.util.find_spec("torch") is None:
        yield
        return
    from tests.support.network_memo import MEMO

    with MEMO.activated():
        yield
