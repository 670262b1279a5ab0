"""app/display.py: one box for every generator, RGB on a neutral grey, one encoding, a
high-quality resize, never the uploaded bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app import display
from tests.support.imagefactory import jpeg_bytes, png_bytes


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_box_follows_the_pool_median_aspect_and_never_upscales_past_the_sources():
    assert display.display_box([(512, 512), (768, 768)], 1024) == display.DisplayBox(768, 768)
    assert display.display_box([(4000, 3000)] * 3, 1024) == display.DisplayBox(1024, 768)
    assert display.display_box([(300, 600), (600, 1200)], 1024) == display.DisplayBox(512, 1024)
    assert display.display_box([], 640) == display.DisplayBox(640, 640)


def test_sources_of_every_size_mode_and_format_come_out_alike():
    box = display.DisplayBox(80, 80)
    uploads = [
        png_bytes(1, size=(64, 64)),
        jpeg_bytes(2, size=(96, 96)),
        png_bytes(3, size=(64, 64), mode="RGBA"),
        png_bytes(4, size=(120, 40), mode="L"),
    ]
    served = [display.render(data, box) for data in uploads]
    decoded = [_decode(data) for data in served]
    assert {(i.format, i.mode, i.size) for i in decoded} == {("JPEG", "RGB", (80, 80))}
    # Everything before the scan (JFIF, quantisation and Huffman tables, frame header) is the
    # same bytes for every generator: the header tells nothing apart.
    headers = {data[: data.index(b"\xff\xda")] for data in served}
    assert len(headers) == 1
    assert all(s != u for s, u in zip(served, uploads, strict=True))


def test_alpha_is_composited_on_neutral_grey_and_letterboxing_is_grey():
    rgba = Image.new("RGBA", (40, 20), (255, 0, 0, 0))  # fully transparent red
    rgba.paste((0, 0, 255, 255), (0, 0, 20, 20))  # opaque blue left half
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    served = np.asarray(_decode(display.render(out.getvalue(), display.DisplayBox(40, 40))))
    grey = np.array(display.NEUTRAL_GREY)
    # Rows 10..29 hold the picture: transparent right half is grey, not red.
    assert np.abs(served[20, 35] - grey).max() <= 6
    assert served[20, 5, 2] > 200 and served[20, 5, 0] < 40
    # Above and below the picture: the grey frame.
    assert np.abs(served[2, 20] - grey).max() <= 6 and np.abs(served[37, 20] - grey).max() <= 6


def test_the_resize_is_lanczos():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    source = Image.fromarray(noise, "RGB").resize((256, 256), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    source.save(out, format="PNG")
    rendered = display.render(out.getvalue(), display.DisplayBox(100, 100))
    served = np.asarray(_decode(rendered), dtype=float)
    errors = {
        name: np.abs(
            served - np.asarray(source.resize((100, 100), getattr(Image.Resampling, name)))
        ).mean()
        for name in ("LANCZOS", "BICUBIC", "BILINEAR", "NEAREST")
    }
    # Closest to Pillow's Lanczos of the same pixels (what is left is the JPEG encoding).
    assert min(errors, key=errors.get) == "LANCZOS", errors
    assert errors["LANCZOS"] < errors["NEAREST"] / 2, errors


def test_a_served_copy_uploaded_again_is_still_served_as_different_bytes():
    box = display.DisplayBox(48, 32)
    served = display.render(png_bytes(5), box)
    again = display.render(served, box)
    assert again != served
    assert _decode(again).size == (48, 32)


def test_a_degraded_copy_has_the_same_geometry_and_encoding_but_is_obviously_worse():
    box = display.DisplayBox(64, 64)
    upload = png_bytes(6, size=(64, 64))
    clean, degraded = display.render(upload, box), display.render(upload, box, degrade_seed=1)
    a, b = _decode(clean), _decode(degraded)
    assert (a.format, a.mode, a.size) == (b.format, b.mode, b.size)
    assert clean[: clean.index(b"\xff\xda")] == degraded[: degraded.index(b"\xff\xda")]
    assert np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean() > 20
