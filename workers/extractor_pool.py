"""Feature extractors built once per process and configuration, shared by its threads and workers.

Loading a network takes seconds: keep each configuration's extractor for the process's life, so
the demo's and tests' successive in-process workers reuse it.
"""

from __future__ import annotations

import threading
from typing import Any

from app.settings import Settings

_EXTRACTORS: dict[tuple, Any] = {}
_EXTRACTORS_LOCK = threading.Lock()


def extractor(settings: Settings, device: str, name: str, mode: str = "clean"):
    """The extractor `name` in preprocessing `mode` on `device`; ExtractorUnavailable (uncached,
    so weights put in place later count) when its weights are missing."""
    from workers.extractors import build_extractor
    from workers.extractors.weights_cache import cached_path, weights_dir

    # Only the Inception extractors have preprocessing modes and reduced precision.
    inception = name.startswith("inception")
    mode = mode if inception else "clean"
    precision = settings.inception_precision if name == "inception-fid" else "fp32"
    config = (
        name,
        mode,
        precision,
        device,
        settings.inception_weights,
        settings.inception_classifier_weights,
        settings.clip_model,
        settings.clip_pretrained,
        settings.allow_network_weights,
    )
    # Configured files win; else what `arena weights fetch` put in the weights cache.
    cache = weights_dir(settings.weights_dir)
    classifier = settings.inception_classifier_weights or cached_path("inception-classifier", cache)
    clip = settings.clip_pretrained or cached_path(f"clip:{settings.clip_model}", cache)
    dinov2 = settings.dinov2_weights or cached_path(
        "dinov2:vit_large_patch14_dinov2.lvd142m", cache
    )
    config = (*config, classifier, clip, dinov2)
    with _EXTRACTORS_LOCK:
        if config not in _EXTRACTORS:
            _EXTRACTORS[config] = build_extractor(
                name,
                device=device,
                inception_weights=settings.inception_weights,
                classifier_weights=classifier,
                clip_model=settings.clip_model,
                clip_pretrained=clip,
                allow_network=settings.allow_network_weights,
                mode=mode,
                precision=precision,
                dinov2_weights=dinov2,
            )
        return _EXTRACTORS[config]
