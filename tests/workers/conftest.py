"""Fixtures for worker tests. Real photographs come from the scikit-image wheel (offline)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

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
    data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) provides the photos")
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
