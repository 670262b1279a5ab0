"""Every image mode Pillow decodes is served and extracted with the look it has, not clipped.

A 16-bit greyscale PNG used to be served 98.4 % white: Pillow's convert() clips 0..65535 to
255 instead of scaling it. The same went for the extractors' convert("RGB").
"""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from app import imaging
from app.imaging import decode_image, eight_bit, to_rgb
from tests.support.hostile import mode_image, mode_png


def served(data: bytes) -> Image.Image:
    decoded = decode_image(data, max_bytes=10**7, max_pixels=10**7)
    return Image.open(io.BytesIO(decoded.served_png))


def ramp(width: int = 16, height: int = 8) -> np.ndarray:
    return np.tile((np.linspace(0, 1, width) * 255).round(), (height, 1))


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    image = served(mode_png("I;16"))
    assert image.mode == "L"
    values = np.asarray(image, dtype=float)
    assert np.abs(values - ramp()).max() <= 1
    assert (values == 255).mean() < 0.1  # it was 98.4 % white


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_eight_bit_modes_are_served_unchanged(mode):
    original = mode_image(mode)
    image = served(mode_png(mode))
    assert image.mode == mode
    assert np.array_equal(np.asarray(image), np.asarray(original))


def test_palette_is_looked_up():
    original = mode_image("P")
    image = served(mode_png("P"))
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), np.asarray(original.convert("RGB")))


def test_palette_with_transparency_keeps_it():
    original = mode_image("P")
    original.info["transparency"] = 0
    out = io.BytesIO()
    original.save(out, format="PNG", transparency=0)
    image = served(out.getvalue())
    assert image.mode == "RGBA"
    assert np.asarray(image)[..., 3].min() == 0


def test_cmyk_jpeg_is_served_as_rgb():
    out = io.BytesIO()
    mode_image("CMYK").save(out, format="JPEG", quality=95)
    image = served(out.getvalue())
    assert image.mode == "RGB"
    expected = np.asarray(mode_image("RGB"), dtype=float)
    assert np.abs(np.asarray(image, dtype=float) - expected).mean() < 6  # JPEG loss only


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("I", "L"), ("I;16", "L"), ("1", "L"), ("PA", "RGBA"), ("La", "LA"), ("RGBa", "RGBA")],
)
def test_every_mode_becomes_eight_bit(mode, expected):
    source = Image.new(mode, (4, 4))
    assert eight_bit(source).mode == expected


def test_thirty_two_bit_greyscale_uses_the_sixteen_bit_range():
    values = np.array([[0, 257, 32896, 65535, 70000]], dtype=np.int32)
    assert np.asarray(eight_bit(Image.fromarray(values, "I"))).tolist() == [[0, 1, 128, 255, 255]]


def test_extractor_rgb_scales_sixteen_bit_greyscale():
    from workers.extractors.base import load_rgb

    rgb = np.asarray(load_rgb(mode_image("I;16")), dtype=float)
    assert rgb.shape[-1] == 3
    assert np.abs(rgb[..., 0] - ramp()).max() <= 1
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    assert to_rgb(mode_image("RGBA")).mode == "RGB"  # alpha dropped, as clean-fid does


def test_extractor_reads_an_rgb_file_fully_before_closing_it(tmp_path):
    from workers.extractors.base import load_rgb

    path = tmp_path / "rgb.png"
    path.write_bytes(mode_png("RGB"))
    assert np.array_equal(np.asarray(load_rgb(path)), np.asarray(mode_image("RGB")))


def test_no_more_decodes_run_at_once_than_configured(monkeypatch):
    running = 0
    peak = 0
    lock = threading.Lock()
    real = imaging._decode

    def counted(data, **kwargs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        try:
            return real(data, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(imaging, "_decode", counted)
    data = mode_png("RGB")
    threads = [
        threading.Thread(
            target=decode_image,
            args=(data,),
            kwargs={"max_bytes": 10**6, "max_pixels": 10**6, "max_concurrent": 2},
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


def _png(array: np.ndarray, mode: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode).save(out, format="PNG")
    return out.getvalue()


def test_appearance_covariates_of_known_images():
    white = _png(np.full((40, 60, 3), 255), "RGB")
    red = _png(np.tile(np.array([255, 0, 0]), (50, 50, 1)), "RGB")
    grey_half = _png(np.concatenate([np.zeros((10, 20)), np.full((10, 20), 255)]), "L")
    clear = _png(np.zeros((8, 8, 4)), "RGBA")  # fully transparent: shown on white
    for data, brightness, saturation in (
        (white, 1.0, 0.0),
        (red, 0.299, 1.0),  # ITU-R 601 luma of pure red
        (grey_half, 0.5, 0.0),
        (clear, 1.0, 0.0),
    ):
        decoded = decode_image(data, max_bytes=10**7, max_pixels=10**7)
        assert decoded.brightness == pytest.approx(brightness, abs=0.003)
        assert decoded.saturation == pytest.approx(saturation, abs=0.003)
        assert imaging.appearance_of_png(decoded.served_png) == pytest.approx(
            (decoded.brightness, decoded.saturation)
        )
