"""How a study shows images: one display box for every generator, RGB, one encoding.

Pure Pillow/numpy, no database. Served copies must not tell generators apart by anything but
their content, so each image is decoded, its alpha composited on a neutral grey, fitted into the
study's box with a Lanczos filter, centred on the same grey, and encoded as baseline JPEG with
fixed settings and no metadata. Attention-check copies go through the same function (blurred
and noised once fitted), so they share size, mode, encoding and serving path.
"""

from __future__ import annotations

import hashlib
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from app.imaging import canonical_pixels

NEUTRAL_GREY = (128, 128, 128)
MEDIA_TYPE = "image/jpeg"
JPEG_QUALITY = 90
# 4:4:4: no chroma subsampling, so small coloured detail survives the re-encoding.
JPEG_SUBSAMPLING = 0


@dataclass(frozen=True)
class DisplayBox:
    width: int
    height: int


def display_box(sizes: Iterable[tuple[int, int]], longest_side: int) -> DisplayBox:
    """The study's box: the median aspect ratio of its images, longest side `longest_side`, or
    the largest source side when every source is smaller (no pointless upscaling of a pool)."""
    sizes = [(w, h) for w, h in sizes if w > 0 and h > 0]
    if not sizes:
        return DisplayBox(longest_side, longest_side)
    aspect = statistics.median(w / h for w, h in sizes)
    side = min(longest_side, max(max(w, h) for w, h in sizes))
    if aspect >= 1:
        return DisplayBox(side, max(1, round(side / aspect)))
    return DisplayBox(max(1, round(side * aspect)), side)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on the neutral grey: transparent areas look the same whoever made the image."""
    pixels = canonical_pixels(image)
    if pixels.mode in ("RGBA", "LA"):
        rgba = pixels.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*NEUTRAL_GREY, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return pixels.convert("RGB")


def degrade(image: Image.Image, seed: int) -> Image.Image:
    """A strong Gaussian blur plus heavy pixel noise: obviously worse to any attentive viewer."""
    radius = max(2.0, min(image.size) / 25)
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
    rng = np.random.default_rng(seed)
    noisy = blurred + 45.0 * rng.standard_normal(size=blurred.shape, dtype=np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _fit(image: Image.Image, box: DisplayBox, degrade_seed: int | None) -> Image.Image:
    scale = min(box.width / image.width, box.height / image.height)
    size = (
        min(box.width, max(1, round(image.width * scale))),
        min(box.height, max(1, round(image.height * scale))),
    )
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if degrade_seed is not None:
        # At display size: the same damage whatever the upload's size, and bounded cost.
        image = degrade(image, degrade_seed)
    canvas = Image.new("RGB", (box.width, box.height), NEUTRAL_GREY)
    canvas.paste(image, ((box.width - size[0]) // 2, (box.height - size[1]) // 2))
    return canvas


def _encode(image: Image.Image, quality: int) -> bytes:
    # A fresh image from raw pixels carries no info dict: no EXIF, ICC, comments or DPI.
    clean = Image.frombytes("RGB", image.size, image.tobytes())
    out = io.BytesIO()
    clean.save(
        out,
        format="JPEG",
        quality=quality,
        subsampling=JPEG_SUBSAMPLING,
        optimize=False,
        progressive=False,
    )
    return out.getvalue()


def render(original: bytes, box: DisplayBox, *, degrade_seed: int | None = None) -> bytes:
    """The served bytes of an uploaded image in a study's box (degraded when a seed is given).

    Never byte-identical to `original`: should the encoder reproduce the upload exactly (an
    upload that is itself a served copy), it is encoded again one quality step lower.
    """
    with Image.open(io.BytesIO(original)) as decoded:
        decoded.load()
        image = _flatten(decoded)
    fitted = _fit(image, box, degrade_seed)
    data = _encode(fitted, JPEG_QUALITY)
    if hashlib.sha256(data).digest() == hashlib.sha256(original).digest():
        data = _encode(fitted, JPEG_QUALITY - 1)
    return data
