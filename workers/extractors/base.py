"""The feature-extractor interface shared by the Inception and CLIP extractors.

An extractor maps images to float32 vectors [N, D]. Decoding and resizing run in a small thread
pool (PIL releases the GIL while decoding and resampling) one batch ahead of the network, so the
network is not left waiting for input. This module imports torch lazily so that code which only
needs ExtractorUnavailable (job handlers, the web app) does not pull in the worker extra.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from app.imaging import to_rgb

if TYPE_CHECKING:
    import torch

ImageInput = Image.Image | str | os.PathLike


class ExtractorUnavailable(RuntimeError):
    """The extractor cannot run here (missing or unverified weights, missing package, device).

    `reason` is meant to be shown next to the metric that could not be computed.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def load_rgb(image: ImageInput) -> Image.Image:
    """Decode (if a path) and convert to 8-bit RGB the way clean-fid and pytorch-fid do.

    `Image.convert("RGB")`: an alpha channel is dropped, not composited onto a background;
    greyscale is replicated into three equal channels; palette images are looked up; CMYK and
    YCbCr are converted by PIL's standard matrices. 16- and 32-bit greyscale ("I;16", "I") is
    first scaled onto 0..255 (app.imaging.to_rgb): PIL's convert clips it to white.
    """
    if isinstance(image, Image.Image):
        return to_rgb(image)
    with Image.open(image) as opened:
        opened.load()  # to_rgb may return the image itself, which must not need the closed file
        return to_rgb(opened)


def resolve_device(device: str | torch.device) -> torch.device:
    import torch

    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ExtractorUnavailable(f"device {device!r} requested but CUDA is not available here")
    if resolved.type not in ("cpu", "cuda"):
        raise ExtractorUnavailable(f"unsupported device {device!r}: use 'cpu' or 'cuda[:N]'")
    return resolved


def default_num_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class FeatureExtractor(ABC):
    """Images in, float32 features [N, dimension] out.

    Subclasses set:
      name           registry name ("inception-fid", "inception-logits", "clip")
      version        changes whenever weights or preprocessing change; the feature-cache key
      dimension      D
      preprocessing  human-readable description of everything done before the network
    and implement `preprocess` (one PIL image -> CHW float32 array) and `forward` (a batch).
    """

    name: str
    version: str
    dimension: int
    preprocessing: str
    device: torch.device

    @abstractmethod
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """One image (any PIL mode) -> the network's input as a CHW float32 array."""

    @abstractmethod
    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """A preprocessed NCHW batch already on self.device -> [N, dimension] features."""

    def describe(self) -> dict[str, Any]:
        """What a stored result must carry to be interpreted and compared."""
        return {
            "extractor": self.name,
            "version": self.version,
            "dimension": self.dimension,
            "preprocessing": self.preprocessing,
            "device": str(self.device),
        }

    def transform(self) -> Callable[[Image.Image], np.ndarray]:
        """RGB image -> CHW float32 input; picklable where DataLoader workers must receive it."""
        return self.preprocess

    def _load_and_preprocess(self, image: ImageInput) -> np.ndarray:
        return self.preprocess(load_rgb(image))

    def embed_images(
        self,
        images: Iterable[ImageInput],
        batch_size: int = 8,
        *,
        num_workers: int | None = None,
        loader: str | None = None,
    ) -> np.ndarray:
        """Features for PIL images or image paths, in input order, as float32 [N, dimension].

        loader "threads" (the CPU default): decode and resize in a thread pool one batch ahead
        of the network. "processes" (the CUDA default): a torch DataLoader whose worker
        processes decode and resize, batches in pinned memory copied to the GPU without
        blocking, so the GPU is not left waiting on Python. The default batch of 8 was the
        fastest for the Inception on a 2-core CPU (16: -14%); pass a larger one on CUDA.
        """
        import torch

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        items: Sequence[ImageInput] = list(images)
        features = np.empty((len(items), self.dimension), dtype=np.float32)
        if not items:
            return features
        workers = num_workers or default_num_workers()
        loader = loader or ("processes" if self.device.type == "cuda" else "threads")
        if loader == "processes":
            return self._embed_with_dataloader(items, features, batch_size, workers)
        if loader != "threads":
            raise ValueError(f"loader must be 'threads' or 'processes', got {loader!r}")
        pending: deque[Future[np.ndarray]] = deque()
        submitted = 0
        # Two batches in flight: the one the network is about to take and the next one.
        window = 2 * batch_size
        with ThreadPoolExecutor(workers, thread_name_prefix=f"{self.name}-decode") as pool:

            def top_up() -> None:
                nonlocal submitted
                while submitted < len(items) and len(pending) < window:
                    pending.append(pool.submit(self._load_and_preprocess, items[submitted]))
                    submitted += 1

            with torch.inference_mode():
                for start in range(0, len(items), batch_size):
                    top_up()
                    count = min(batch_size, len(items) - start)
                    arrays = [pending.popleft().result() for _ in range(count)]
                    top_up()
                    batch = torch.from_numpy(np.stack(arrays)).to(self.device)
                    batch = batch.contiguous(memory_format=torch.channels_last)
                    out = self.forward(batch)
                    features[start : start + count] = out.float().cpu().numpy()
        return features

    def _embed_with_dataloader(
        self, items: Sequence[ImageInput], features: np.ndarray, batch_size: int, workers: int
    ) -> np.ndarray:
        import torch
        from torch.utils.data import DataLoader

        pinned = self.device.type == "cuda"
        batches = DataLoader(
            _DecodedImages(items, self.transform()),
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=pinned,
            collate_fn=_stack,
            prefetch_factor=2,
        )
        start = 0
        with torch.inference_mode():
            for batch in batches:
                batch = batch.to(self.device, non_blocking=pinned)
                out = self.forward(batch.contiguous(memory_format=torch.channels_last))
                features[start : start + len(batch)] = out.float().cpu().numpy()
                start += len(batch)
        return features


class _DecodedImages:
    """A map-style dataset: item i decoded to RGB and preprocessed (runs in DataLoader workers)."""

    def __init__(self, items: Sequence[ImageInput], transform: Callable) -> None:
        self.items = items
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.transform(load_rgb(self.items[index]))


def _stack(arrays: list[np.ndarray]):
    import torch

    return torch.from_numpy(np.stack(arrays))
