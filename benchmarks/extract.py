"""Inception feature-extraction throughput: ours against pytorch-fid on the same images, same run.

Images: crops of the real photographs in scikit-image, resized to 512x512 and written as JPEG
(pytorch-fid's loader batches without resizing, so its inputs must share one size). Both sides use
the same default_1.pt weights (pytorch-fid's module gets them through the default_1 -> pytorch-fid
name map; nothing is downloaded).

  end to end    files on disk -> features: decode + resize + network
                  ours: InceptionFeatureExtractor.embed_images(paths) (PIL bicubic 'F' resize in
                  a thread pool, overlapped with a channels_last network)
                  pytorch-fid: fid_score.get_activations (DataLoader with its CLI's worker count,
                  ToTensor, bilinear F.interpolate inside the model)
  network       already-decoded tensors -> features (pytorch-fid's includes its in-model resize)

Usage: python benchmarks/extract.py --images 96 [--device cpu|cuda] [--batch-size 8] [--threads N]
          [--precision fp32|bf16|fp16] [--loader threads|processes] [--workers N] [--no-peer]
          [--fid-precision bf16]

On a GPU machine (decode + resize in DataLoader worker processes, pinned memory, autocast):
  python benchmarks/extract.py --device cuda --images 2048 --batch-size 128 --precision fp16 \
      --loader processes --workers 8 --no-peer --fid-precision fp16

--fid-precision P also extracts two disjoint sets of real-photo crops (images/2 each) in fp32 and
in P on the same device and prints FID(set A, set B) for both and their difference: what the
reduced precision does to a FID.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.extractors.base import default_num_workers
from workers.extractors.inception import (
    InceptionFeatureExtractor,
    _load_torchscript,
    build_pytorch_fid_inception,
    pytorch_fid_state_dict_from_torchscript,
)

IMAGE_SIZE = 512


def write_real_photo_crops(folder: Path, count: int, seed: int = 0) -> list[Path]:
    from skimage import data

    left, right, _ = data.stereo_motorcycle()
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), left, right]
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        side = int(rng.uniform(0.5, 1.0) * min(height, width))
        top, left_edge = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = Image.fromarray(photo[top : top + side, left_edge : left_edge + side])
        path = folder / f"{index:05d}.jpg"
        crop.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS).save(path, quality=95)
        paths.append(path)
    return paths


def pytorch_fid_peer(ours: InceptionFeatureExtractor, device: torch.device) -> torch.nn.Module:
    from pytorch_fid import inception as pfi

    torchscript = _load_torchscript(ours.weights_path, torch.device("cpu"))
    net = build_pytorch_fid_inception(
        pytorch_fid_state_dict_from_torchscript(torchscript.state_dict()), with_classifier=False
    )
    # InceptionV3 always calls fid_inception_v3(), which downloads: hand it the local weights.
    with mock.patch.object(pfi, "fid_inception_v3", lambda: net):
        return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()


def pytorch_fid_workers() -> int:
    """pytorch-fid's CLI default: one DataLoader worker per available CPU, at most 8."""
    return min(len(os.sched_getaffinity(0)), 8)


def rate(count: int, seconds: float) -> float:
    return count / seconds


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--peer-batch-size", type=int, default=50, help="pytorch-fid's default")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--loader", default=None, choices=("threads", "processes"))
    parser.add_argument("--workers", type=int, default=None, help="decode threads/processes")
    parser.add_argument("--no-peer", action="store_true", help="skip pytorch-fid")
    parser.add_argument("--fid-precision", default=None, choices=("bf16", "fp16"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_peer:
        return ours_only(args)
    from pytorch_fid.fid_score import get_activations

    ours = InceptionFeatureExtractor(device=args.device, precision=args.precision)
    peer = pytorch_fid_peer(ours, ours.device)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_real_photo_crops(Path(tmp), args.images)
        files = [str(path) for path in paths]
        n = len(paths)
        ours_inputs = torch.from_numpy(
            np.stack([ours.preprocess(Image.open(path).convert("RGB")) for path in paths])
        ).contiguous(memory_format=torch.channels_last)
        peer_inputs = (
            torch.from_numpy(
                np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])
            )
            .permute(0, 3, 1, 2)
            .float()
            .div(255)
            .contiguous()
        )

        def ours_end_to_end():
            return ours.embed_images(
                paths, args.batch_size, num_workers=args.workers, loader=args.loader
            )

        def peer_end_to_end():
            with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar
                return get_activations(
                    files, peer, args.peer_batch_size, 2048, ours.device, pytorch_fid_workers()
                )

        def ours_network():
            with torch.inference_mode():
                for start in range(0, n, args.batch_size):
                    ours.forward(ours_inputs[start : start + args.batch_size].to(ours.device))

        def peer_network():
            with torch.no_grad():
                for start in range(0, n, args.peer_batch_size):
                    peer(peer_inputs[start : start + args.peer_batch_size].to(ours.device))

        # Warm-up: TorchScript's profiling executor specialises on the first calls of each shape.
        ours.embed_images(paths[: 2 * args.batch_size], args.batch_size)
        with torch.no_grad():
            peer(peer_inputs[:2].to(ours.device))
        seconds: dict[str, list[float]] = {key: [] for key in ("oe", "pe", "on", "pn")}
        # Interleaved repeats, median reported: the cores are shared, so load drifts.
        for _ in range(args.repeats):
            ours_features, elapsed = timed(ours_end_to_end)
            seconds["oe"].append(elapsed)
            peer_features, elapsed = timed(peer_end_to_end)
            seconds["pe"].append(elapsed)
            seconds["on"].append(timed(ours_network)[1])
            seconds["pn"].append(timed(peer_network)[1])

    median = {key: float(np.median(values)) for key, values in seconds.items()}
    print(
        f"images: {n} real-photo crops, {IMAGE_SIZE}x{IMAGE_SIZE} JPEG; device {ours.device}; "
        f"torch threads {torch.get_num_threads()}; cpu cores {os.cpu_count()}; "
        f"median of {args.repeats} interleaved runs"
    )
    print(f"ours: batch {args.batch_size}, decode+resize threads {default_num_workers()}")
    print(f"pytorch-fid: batch {args.peer_batch_size}, DataLoader workers {pytorch_fid_workers()}")
    print(f"{'':14}{'ours img/s':>12}{'pytorch-fid img/s':>20}{'ratio':>8}")
    for label, ours_key, peer_key in (("end to end", "oe", "pe"), ("network", "on", "pn")):
        ours_s, peer_s = median[ours_key], median[peer_key]
        print(f"{label:14}{rate(n, ours_s):12.2f}{rate(n, peer_s):20.2f}{peer_s / ours_s:8.2f}x")
    gap = np.abs(ours_features - peer_features).max()
    print(
        f"max |ours - pytorch-fid| feature difference: {gap:.3f} "
        "(different resize: PIL bicubic vs bilinear F.interpolate; same weights)"
    )


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours_only(args) -> None:
    """End-to-end images/s of our extractor alone (files on disk -> features on the host)."""
    ours = InceptionFeatureExtractor(device=args.device, precision=args.precision)
    loader = args.loader or ("processes" if ours.device.type == "cuda" else "threads")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_real_photo_crops(Path(tmp), args.images)
        ours.embed_images(paths[: 2 * args.batch_size], args.batch_size)  # warm-up
        seconds = []
        for _ in range(args.repeats):
            _synchronise(ours.device)
            start = time.perf_counter()
            ours.embed_images(paths, args.batch_size, num_workers=args.workers, loader=loader)
            _synchronise(ours.device)
            seconds.append(time.perf_counter() - start)
        name = torch.cuda.get_device_name(ours.device) if ours.device.type == "cuda" else "cpu"
        print(
            f"images: {len(paths)} real-photo crops, {IMAGE_SIZE}x{IMAGE_SIZE} JPEG; device "
            f"{ours.device} ({name}); precision {args.precision}; loader {loader}, workers "
            f"{args.workers or default_num_workers()}; batch {args.batch_size}; torch threads "
            f"{torch.get_num_threads()}; median of {args.repeats}"
        )
        print(f"end to end: {len(paths) / float(np.median(seconds)):.1f} images/s")
        if args.fid_precision:
            fid_difference(paths, args)


def fid_difference(paths: list[Path], args) -> None:
    """FID between two halves of the images with fp32 features and with reduced precision."""
    from app import metrics

    half = len(paths) // 2
    results = {}
    for precision in ("fp32", args.fid_precision):
        extractor = InceptionFeatureExtractor(device=args.device, precision=precision)
        features = extractor.embed_images(paths, args.batch_size, num_workers=args.workers)
        results[precision] = (features, metrics.fid(features[:half], features[half:]).value)
    (f32, fid32), (low, fid_low) = results["fp32"], results[args.fid_precision]
    print(
        f"FID(first {half}, last {len(paths) - half}) fp32 {fid32:.4f}, {args.fid_precision} "
        f"{fid_low:.4f}: difference {fid_low - fid32:+.4f} ({(fid_low - fid32) / fid32:+.3%}); "
        f"max |feature difference| {np.abs(f32 - low).max():.4f}"
    )


if __name__ == "__main__":
    main()
