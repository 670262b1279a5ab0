"""Decode and validate uploaded image bytes with Pillow; make the metadata-free served copy.

Validation is by decoding, never by file name or content type. The served copy is re-encoded
from the decoded pixels as PNG (lossless), so EXIF, XMP, PNG text chunks, ICC profile names and
file names cannot reach an annotator.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

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


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Validate `data` as one still PNG/JPEG/WebP image within the limits and re-encode it."""
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
    return DecodedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        format=fmt,
        byte_size=len(data),
        served_png=served,
    )


def canonical_pixels(image: Image.Image) -> Image.Image:
    """The pixels as a viewer shows them: EXIF orientation applied, colours in sRGB, RGB(A)/L."""
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            image = ImageCms.profileToProfile(image, source, target, outputMode=image.mode)
        except ImageCms.PyCMSError:
            pass  # An unreadable profile: keep the raw pixels rather than refuse the upload.
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        has_alpha = image.mode in ("PA", "P") and "transparency" in image.info
        image = image.convert("RGBA" if has_alpha or "A" in image.mode else "RGB")
    return image


def _served_png(image: Image.Image) -> bytes:
    pixels = canonical_pixels(image)
    # A fresh image from raw pixels carries no info dict: nothing of the original's metadata.
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG", compress_level=6)
    return out.getvalue()
