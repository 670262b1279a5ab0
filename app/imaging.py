"""Decode and validate uploaded image bytes with Pillow; make the metadata-free served copy.

Validation is by decoding, never by file name or content type. The served copy is re-encoded
from the decoded pixels as PNG (lossless), so EXIF, XMP, PNG text chunks, ICC profile names and
file names cannot reach an annotator.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP"}


class ImageRejected(ValueError):
    """The bytes are not an image we accept; `too_large` tells 413 from 422."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class DecodedImage:
    sha256: str
    width: int
    height: int
    format: str
    byte_size: int
    served_png: bytes
    brightness: float | None = None
    saturation: float | None = None


@cache
def decode_slots(count: int) -> threading.BoundedSemaphore:
    """One semaphore per configured count, shared by every upload in this process."""
    return threading.BoundedSemaphore(max(1, count))


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, max_concurrent: int = 2
) -> DecodedImage:
    """Validate `data` as one still PNG/JPEG/WebP image within the limits and re-encode it.

    At most `max_concurrent` decodes run at once in this process (ARENA_MAX_CONCURRENT_DECODES):
    one at the pixel limit holds several hundred MiB (README, "Limits"), so they queue instead
    of adding up.
    """
    with decode_slots(max_concurrent):
        return _decode(data, max_bytes=max_bytes, max_pixels=max_pixels)


def _decode(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    if len(data) == 0:
        raise ImageRejected("the file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} (ARENA_MAX_FILE_BYTES)",
            too_large=True,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            # The header gives the size before any pixel is decoded: refuse bombs here.
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f"the image is {width}x{height} = {width * height:,} pixels; the limit is "
                    f"{max_pixels:,} (ARENA_MAX_IMAGE_PIXELS) - possible decompression bomb",
                    too_large=True,
                )
            if image.format not in ACCEPTED_FORMATS:
                raise ImageRejected(f"the image format is {image.format}; upload PNG, JPEG or WebP")
            if getattr(image, "n_frames", 1) > 1:
                raise ImageRejected("animated images are not accepted; upload a single frame")
            image.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected(
            "not an image: Pillow cannot decode it (upload PNG, JPEG or WebP)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"decompression bomb refused: {exc}", too_large=True) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"the image is truncated or corrupt: {exc}") from exc
    fmt = image.format
    served = _served_png(image)
    brightness, saturation = appearance(image)
    return DecodedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        format=fmt,
        byte_size=len(data),
        served_png=served,
        brightness=brightness,
        saturation=saturation,
    )


# Appearance covariates are measured on a thumbnail: the means of a downscaled copy differ from
# the full image's by far less than any preference they could explain, at a fraction of the cost.
APPEARANCE_SIZE = 256


def appearance(image: Image.Image) -> tuple[float, float]:
    """(brightness, saturation) of an image, each in [0, 1], for controlled Bradley-Terry.

    Brightness is the mean ITU-R 601 luma (Pillow's "L" conversion) over 255; saturation the mean
    HSV saturation over 255 (Pillow's "HSV" conversion, max-min over max per pixel). Both are
    measured on the canonical pixels (app.imaging.canonical_pixels: what annotators see),
    composited on white where the image has alpha, downscaled to at most APPEARANCE_SIZE.
    """
    pixels = canonical_pixels(image)
    small = pixels.copy()
    small.thumbnail((APPEARANCE_SIZE, APPEARANCE_SIZE), Image.Resampling.BOX)
    if small.mode in ("RGBA", "LA"):
        base = Image.new("RGBA", small.size, (255, 255, 255, 255))
        small = Image.alpha_composite(base, small.convert("RGBA"))
    rgb = small.convert("RGB")
    brightness = float(np.asarray(rgb.convert("L"), dtype=np.float64).mean() / 255.0)
    saturation = float(np.asarray(rgb.convert("HSV"), dtype=np.float64)[..., 1].mean() / 255.0)
    return brightness, saturation


def appearance_of_png(data: bytes) -> tuple[float, float]:
    """appearance() of stored served-copy bytes (the backfill of images uploaded before)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return appearance(image)


# Modes that need no conversion, and what every other mode Pillow decodes becomes.
EIGHT_BIT_MODES = ("L", "LA", "RGB", "RGBA")
_ALPHA_TARGET = {"PA": "RGBA", "RGBa": "RGBA", "La": "LA"}


def eight_bit(image: Image.Image) -> Image.Image:
    """Any mode Pillow decodes as 8-bit L, LA, RGB or RGBA that looks the same.

    Pillow's own convert() clips 16- and 32-bit greyscale to 255 instead of scaling it (a
    16-bit PNG came out almost white); here 0..65535 maps linearly onto 0..255. Palette images
    keep their transparency, premultiplied alpha is undone, CMYK and YCbCr become RGB.
    """
    mode = image.mode
    if mode in EIGHT_BIT_MODES:
        return image
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.uint32, copy=False)
        # Round to nearest: 65535 -> 255, 257 -> 1 (the exact 8-bit values of 16-bit white/steps).
        scaled = (np.clip(values, 0, 65535) * 255 + 32767) // 65535
        return Image.fromarray(scaled.astype(np.uint8), mode="L")
    if mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).round().astype(np.uint8), "L")
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette.mode == "RGBA"
        return image.convert("RGBA" if has_alpha else "RGB")
    return image.convert(_ALPHA_TARGET.get(mode, "RGB"))


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB for feature extractors: like clean-fid's convert("RGB") (alpha dropped, grey
    replicated), but with 16-bit and other modes scaled correctly first (eight_bit)."""
    image = eight_bit(image)
    return image if image.mode == "RGB" else image.convert("RGB")


def canonical_pixels(image: Image.Image) -> Image.Image:
    """The pixels as a viewer shows them: EXIF orientation applied, colours in sRGB, RGB(A)/L(A)."""
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            output = "RGBA" if image.mode == "RGBA" else "RGB"
            image = ImageCms.profileToProfile(image, source, target, outputMode=output)
        except ImageCms.PyCMSError:
            pass  # An unreadable profile: keep the raw pixels rather than refuse the upload.
    return eight_bit(image)


def _served_png(image: Image.Image) -> bytes:
    pixels = canonical_pixels(image)
    if pixels is image:
        pixels = image.copy()
    # The PNG writer takes metadata only from `info` (ICC profile, transparency) and from save()
    # arguments: with an empty info dict nothing of the original's reaches the served file.
    # (Rebuilding the image from tobytes() did the same with two more full-size copies.)
    pixels.info = {}
    out = io.BytesIO()
    pixels.save(out, format="PNG", compress_level=6)
    return out.getvalue()
