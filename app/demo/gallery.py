"""The tiny art gallery: a real reference set and three artists with classic failure modes.

Every image derives from real photographs bundled in the scikit-image wheel (offline):

- reference: random square crops (45–90 % of the short side) of each photograph, half of them
  mirrored — the "real distribution";
- Artist A, mode collapse: every image is the same crop of one photograph with a few pixels of
  jitter — beautiful (inside the real manifold: high precision) but near-identical (low recall);
- Artist B, diverse but messy: crops of every photograph, heavily blurred, noised, colour-shifted
  and JPEG-compressed — far from real images (low precision) yet spread over all of them;
- Artist C, good and diverse: fresh crops of every photograph with mild colour jitter and light
  JPEG compression — close to the real distribution in both respects (the best FID);
- Artist D, one family at three guidance scales (1, 3, 7): more guidance, less blur and noise
  but more saturation and fewer subjects — the quality–diversity sweep.

Crops are drawn with separate seeds for the reference and the artists, so no artist image is a
copy of a reference image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

SIZE = 160  # pixels per side; the Inception extractor resizes to 299 either way

# (scikit-image loader, prompt) — what each photograph shows.
PHOTOS = (
    ("astronaut", "a portrait of an astronaut in a white spacesuit in front of a flag"),
    ("chelsea", "a tabby cat looking to the side"),
    ("coffee", "a cup of coffee on a saucer, seen from above"),
    ("rocket", "a rocket standing on the launch pad under a blue sky"),
    ("motorcycle_left", "a red motorcycle parked in a workshop"),
    ("hubble_deep_field", "a deep-space photograph full of galaxies"),
    ("immunohistochemistry", "a microscope image of stained tissue"),
)


@dataclass(frozen=True)
class GalleryImage:
    name: str
    prompt_id: str
    png: bytes


def load_photographs() -> dict[str, Image.Image]:
    """The real photographs from the scikit-image wheel (no network, no pooch download)."""
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - the worker extra installs it
        raise RuntimeError(
            "the demo needs scikit-image (pip install 'gallery-arena[worker]')"
        ) from exc
    photos = {}
    for name, _prompt in PHOTOS:
        if name == "motorcycle_left":
            photos[name] = Image.fromarray(data.stereo_motorcycle()[0])
        else:
            photos[name] = Image.fromarray(getattr(data, name)())
    return photos


def _crop(photo: Image.Image, rng: np.random.Generator, low=0.45, high=0.9) -> Image.Image:
    width, height = photo.size
    side = int(rng.uniform(low, high) * min(width, height))
    left = int(rng.integers(0, width - side + 1))
    top = int(rng.integers(0, height - side + 1))
    image = photo.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BICUBIC)
    return ImageOps.mirror(image) if rng.random() < 0.5 else image


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def reference_images(
    photos: dict[str, Image.Image], per_photo: int, seed: int = 1
) -> list[GalleryImage]:
    rng = np.random.default_rng(seed)
    return [
        GalleryImage(f"real-{name}-{k:03d}.png", name, _png(_crop(photos[name], rng)))
        for name, _ in PHOTOS
        for k in range(per_photo)
    ]


def artist_a_mode_collapse(
    photos: dict[str, Image.Image], count: int, seed: int = 2
) -> list[GalleryImage]:
    """One crop of the cat, jittered by a few pixels: near-identical, realistic images."""
    rng = np.random.default_rng(seed)
    photo = photos["chelsea"]
    side = int(0.7 * min(photo.size))
    images = []
    for k in range(count):
        dx, dy = (int(v) for v in rng.integers(-4, 5, size=2))
        box = (60 + dx, 20 + dy, 60 + dx + side, 20 + dy + side)
        image = photo.crop(box).resize((SIZE, SIZE), Image.BICUBIC)
        images.append(GalleryImage(f"a-{k:03d}.png", "chelsea", _png(image)))
    return images


def artist_b_messy(
    photos: dict[str, Image.Image], per_photo: int, seed: int = 3
) -> list[GalleryImage]:
    """Every subject, but blurred, noised, colour-shifted and blocky: diverse and unrealistic."""
    rng = np.random.default_rng(seed)
    images = []
    for name, _ in PHOTOS:
        for k in range(per_photo):
            image = _crop(photos[name], rng, 0.3, 1.0)
            image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(3, 6))))
            pixels = np.asarray(image, dtype=np.float64)
            pixels = pixels * rng.uniform(0.6, 1.4, size=3) + rng.normal(0, 40, size=pixels.shape)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            image = _jpeg_roundtrip(image, quality=int(rng.integers(5, 15)))
            images.append(GalleryImage(f"b-{name}-{k:03d}.png", name, _png(image)))
    return images


def artist_c_good(
    photos: dict[str, Image.Image], per_photo: int, seed: int = 4
) -> list[GalleryImage]:
    """Every subject, fresh crops, mild colour jitter and light compression: close to real."""
    rng = np.random.default_rng(seed)
    images = []
    for name, _ in PHOTOS:
        for k in range(per_photo):
            image = _crop(photos[name], rng)
            image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.9, 1.1)))
            image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.95, 1.05)))
            image = _jpeg_roundtrip(image, quality=90)
            images.append(GalleryImage(f"c-{name}-{k:03d}.png", name, _png(image)))
    return images


# Artist D at three guidance scales: the trade-off classifier-free guidance makes. More guidance,
# cleaner and more saturated images of fewer subjects (quality up, diversity down).
GUIDANCE_SCALES = (1.0, 3.0, 7.0)


def artist_d_guided(
    photos: dict[str, Image.Image], per_photo: int, guidance: float, seed: int = 5
) -> list[GalleryImage]:
    """Artist D at one guidance scale: blur and noise fall as guidance rises, saturation climbs,
    and the subjects narrow to the first photographs (mode seeking)."""
    rng = np.random.default_rng(seed + int(guidance * 10))
    subjects = max(2, round(len(PHOTOS) * (1.0 - 0.12 * (guidance - 1.0))))
    blur = max(0.0, 2.5 - 0.45 * (guidance - 1.0))
    noise = max(3.0, 28.0 - 5.0 * (guidance - 1.0))
    images = []
    for k in range(per_photo * len(PHOTOS)):
        name = PHOTOS[k % subjects][0]
        image = _crop(photos[name], rng)
        if blur:
            image = image.filter(ImageFilter.GaussianBlur(radius=blur))
        image = ImageEnhance.Color(image).enhance(1.0 + 0.08 * guidance)
        pixels = np.asarray(image, dtype=np.float64) + rng.normal(0, noise, size=(SIZE, SIZE, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        images.append(GalleryImage(f"d{guidance:g}-{name}-{k:03d}.png", name, _png(image)))
    return images


def prompts() -> list[dict[str, str]]:
    return [{"external_id": name, "text": text, "category": "gallery"} for name, text in PHOTOS]
