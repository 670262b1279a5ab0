"""CLIP image and text towers through open_clip_torch (Radford et al. 2021; Cherti et al. 2023).

Embeddings are stored raw, NOT L2-normalised: the metrics core (CLIP score, CMMD, per-prompt
diversity) normalises for cosine, and raw vectors keep the norm for anyone who needs it.
Weights come from a local checkpoint file; a pretrained tag or an hf-hub: model is only fetched
when the caller passes allow_network=True.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from workers.extractors.base import ExtractorUnavailable, FeatureExtractor, resolve_device
from workers.extractors.weights import sha256_file

if TYPE_CHECKING:
    import torch

NO_CLIP_WEIGHTS = (
    "no CLIP weights configured: set ARENA_CLIP_PRETRAINED to a local open_clip checkpoint"
)


def no_clip_weights(model_name: str) -> str:
    """The "unavailable" reason without weights, naming the command that fetches them."""
    from workers.extractors.weights_cache import fetch_hint

    return f"{NO_CLIP_WEIGHTS}, or {fetch_hint(f'clip:{model_name}')}"


def _size_text(size: int | Sequence[int] | None) -> str:
    if isinstance(size, int):
        return f"{size}x{size}"
    return "x".join(str(side) for side in size or ())


def _describe_preprocessing(model_name: str, cfg: dict[str, Any]) -> str:
    size = _size_text(cfg.get("size"))
    return (
        f"open_clip {model_name} validation transform: PIL convert('RGB') (alpha dropped, "
        f"greyscale replicated); resize ({cfg.get('resize_mode', 'shortest')}) to {size} with "
        f"{cfg.get('interpolation', 'bicubic')} interpolation (antialiased PIL resize), center crop "
        f"to {size}, scaled to [0, 1], normalised with mean {tuple(cfg.get('mean', ()))} and std "
        f"{tuple(cfg.get('std', ()))}; float32; raw embeddings (not L2-normalised)"
    )


def _apply(transform, image: Image.Image) -> np.ndarray:
    """open_clip's validation transform as a picklable function (DataLoader worker processes)."""
    return transform(image).numpy()


class ClipExtractor(FeatureExtractor):
    """open_clip image embeddings via embed_images, text embeddings via embed_texts."""

    name = "clip"

    def __init__(
        self,
        model_name: str,
        pretrained: str | os.PathLike | None,
        *,
        device: str | torch.device = "cpu",
        allow_network: bool = False,
    ):
        import torch

        try:
            import open_clip
        except ImportError as exc:
            raise ExtractorUnavailable(
                "open_clip_torch is not installed: install gallery-arena[worker]"
            ) from exc
        if pretrained is None:
            raise ExtractorUnavailable(no_clip_weights(model_name))
        if model_name.startswith("hf-hub:") and not allow_network:
            raise ExtractorUnavailable(
                f"CLIP model {model_name!r} lives on the Hugging Face hub and allow_network is "
                "False: use a built-in model name with a local checkpoint"
            )
        local = Path(pretrained).expanduser()
        if local.is_file():
            weights_id = f"sha256-{sha256_file(local)[:16]}"
            source = str(local)
        elif allow_network:
            weights_id = f"tag-{pretrained}"
            source = str(pretrained)
        else:
            raise ExtractorUnavailable(
                f"CLIP weights {str(pretrained)!r} are not a local file and network fetching is "
                "off (allow_network=False): set ARENA_CLIP_PRETRAINED to a local open_clip checkpoint"
            )
        self.device = resolve_device(device)
        try:
            model, _, transform = open_clip.create_model_and_transforms(
                model_name,
                pretrained=source,
                device=self.device,
                pretrained_text=allow_network,
                weights_only=True,
            )
        except RuntimeError as exc:
            raise ExtractorUnavailable(
                f"could not build CLIP {model_name!r} from {source}: {exc}"
            ) from exc
        try:
            self._tokenizer = open_clip.get_tokenizer(model_name)
        except OSError as exc:
            raise ExtractorUnavailable(
                f"the tokenizer for CLIP {model_name!r} is not available offline: {exc}"
            ) from exc
        self._model = model.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self._transform = transform
        self.model_name = model_name
        self.weights_path = str(local) if local.is_file() else None
        preprocess_cfg = open_clip.get_model_preprocess_cfg(model)
        self.preprocessing = _describe_preprocessing(model_name, preprocess_cfg)
        self.dimension = self._probe_dimension()
        self.version = (
            f"{model_name}.{weights_id}.openclip-val-{_size_text(preprocess_cfg.get('size'))}"
        )

    def _probe_dimension(self) -> int:
        """The joint embedding width, read off one text forward (towers differ in where it lives)."""
        import torch

        with torch.inference_mode():
            tokens = self._tokenizer(["a"]).to(self.device)
            return int(self._model.encode_text(tokens).shape[-1])

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self._transform(image).numpy()

    def transform(self):
        return functools.partial(_apply, self._transform)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self._model.encode_image(batch, normalize=False)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Text-tower embeddings for prompts, float32 [N, dimension], raw (not normalised)."""
        import torch

        texts = list(texts)
        features = np.empty((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunk = texts[start : start + batch_size]
                tokens = self._tokenizer(chunk).to(self.device)
                out = self._model.encode_text(tokens, normalize=False)
                features[start : start + len(chunk)] = out.float().cpu().numpy()
        return features
