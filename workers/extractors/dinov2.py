"""DINOv2 image embeddings for FD-DINOv2 (Oquab et al. 2023; Stein et al. 2023, "Exposing flaws
of generative model evaluation metrics", which found DINOv2-ViT-L/14 features rank generators
closer to people than Inception's).

timm's ViT with the DINOv2 weights (`arena weights fetch dinov2-vitl14`), the CLS token as the
embedding, at 224 x 224 as in Stein et al.'s dgm-eval (the 518-pixel position embeddings are
resampled by timm's own checkpoint filter).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from workers.extractors.base import ExtractorUnavailable, FeatureExtractor, resolve_device
from workers.extractors.weights import require_file, sha256_file

if TYPE_CHECKING:
    import torch

DEFAULT_DINOV2_MODEL = "vit_large_patch14_dinov2.lvd142m"
DINOV2_SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DINOV2_PREPROCESSING = (
    "PIL convert('RGB'); resized to 224x224 with PIL bicubic (antialiased; aspect ratio not "
    "kept, no crop, as dgm-eval), scaled to [0, 1], normalised with the ImageNet mean "
    "(0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); float32; CLS token"
)


def dinov2_input(image: Image.Image) -> np.ndarray:
    resized = image.convert("RGB").resize((DINOV2_SIZE, DINOV2_SIZE), Image.Resampling.BICUBIC)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


def _load_state(path) -> dict:
    import torch

    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class DinoV2Extractor(FeatureExtractor):
    name = "dinov2"
    preprocessing = DINOV2_PREPROCESSING

    def __init__(
        self,
        weights: str | os.PathLike | None,
        *,
        model_name: str = DEFAULT_DINOV2_MODEL,
        device: str | torch.device = "cpu",
        model_kwargs: dict[str, Any] | None = None,
    ):
        try:
            import timm
            from timm.models.vision_transformer import checkpoint_filter_fn
        except ImportError as exc:
            raise ExtractorUnavailable(
                "timm is not installed: install gallery-arena[worker]"
            ) from exc
        if weights is None:
            from workers.extractors.weights_cache import fetch_hint

            raise ExtractorUnavailable(
                f"no DINOv2 weights: {fetch_hint(f'dinov2:{model_name}')}, or set "
                "ARENA_DINOV2_WEIGHTS to a local timm checkpoint"
            )
        path = require_file(weights, "DINOv2 weights")
        self.device = resolve_device(device)
        model = timm.create_model(
            model_name.split(".")[0],
            pretrained=False,
            num_classes=0,
            img_size=DINOV2_SIZE,
            **(model_kwargs or {}),
        )
        try:
            model.load_state_dict(checkpoint_filter_fn(_load_state(path), model))
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ExtractorUnavailable(
                f"DINOv2 weights {path} do not fit {model_name}: {exc}"
            ) from exc
        self._model = model.eval().requires_grad_(False).to(self.device)
        self.dimension = int(model.num_features)
        self.weights_path = path
        self.version = f"{model_name}.sha256-{sha256_file(path)[:16]}.pil-bicubic-224-cls"

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return dinov2_input(image)

    def transform(self):
        return dinov2_input

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self._model(batch)
