"""Speed and memory of app.metrics against the reference implementations, on the same arrays.

    python benchmarks/metrics.py            # FID 2048-d, PRDC 10k x 10k x 2048, KID 10k, PRDC 50k memory
    python benchmarks/metrics.py --small    # the same comparisons on small arrays (about a minute)

Prints, per metric, our time, the peer's time, the ratio, and the difference of the values.
Features are synthetic but shaped like Inception pool3 outputs: non-negative, correlated,
float32, the generated set slightly shifted from the real one. Peak memory is the maximum
resident set size of a fresh subprocess that only builds the features and runs our PRDC.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import metrics


def inception_like(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """n x d float32 rows: a shared 64-dimensional structure plus noise, made non-negative."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(0).standard_normal((64, d)).astype(np.float32) / 8
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 8192):
        rows = min(8192, n - start)
        latent = rng.standard_normal((rows, 64), dtype=np.float32) + shift
        block = latent @ mixing + 0.3 * rng.standard_normal((rows, d), dtype=np.float32)
        out[start : start + rows] = np.abs(block)
    return out


def timed(fn, repeat: int = 1):
    best, value = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return value, best


def report(name: str, ours: float, peer: float, peer_name: str, detail: str) -> None:
    print(
        f"{name:<34} ours {ours:8.3f} s   {peer_name} {peer:8.3f} s   ratio {peer / ours:6.1f}x   {detail}",
        flush=True,
    )


def bench_fid(n: int, d: int) -> None:
    from pytorch_fid.fid_score import calculate_frechet_distance

    real, gen = inception_like(n, d, 1), inception_like(n, d, 2, shift=0.05)
    mu_r, sigma_r = (
        real.mean(0, dtype=np.float64),
        np.cov(real.astype(np.float64), rowvar=False),
    )
    mu_g, sigma_g = (
        gen.mean(0, dtype=np.float64),
        np.cov(gen.astype(np.float64), rowvar=False),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy 1.17 deprecates the sqrtm(disp=) pytorch-fid calls
        peer, peer_s = timed(lambda: calculate_frechet_distance(mu_g, sigma_g, mu_r, sigma_r))
    ours, ours_s = timed(lambda: metrics.frechet_distance(mu_g, sigma_g, mu_r, sigma_r), repeat=2)
    rel = abs(ours - peer) / abs(peer)
    report(
        f"FID from statistics, d={d}",
        ours_s,
        peer_s,
        "pytorch-fid",
        f"FID {ours:.6f}, rel. diff {rel:.1e}",
    )
    prepared = metrics.prepare_reference(metrics.GaussianStats(mu_r, sigma_r, n))
    stats = metrics.GaussianStats(mu_g, sigma_g, n)
    per_gen, per_gen_s = timed(lambda: metrics.fid(stats, prepared).value, repeat=2)
    report(
        "FID per generator, reference reused",
        per_gen_s,
        peer_s,
        "pytorch-fid",
        f"rel. diff {abs(per_gen - peer) / abs(peer):.1e}",
    )


def bench_prdc(n: int, d: int) -> None:
    from prdc import compute_prdc

    real, gen = inception_like(n, d, 3), inception_like(n, d, 4, shift=0.1)
    with contextlib.redirect_stdout(io.StringIO()):
        peer, peer_s = timed(lambda: compute_prdc(real, gen, 5))
    ours, ours_s = timed(lambda: metrics.prdc(real, gen, k=5))
    equal = all(ours[name].value == float(peer[name]) for name in peer)
    values = ", ".join(f"{name} {ours[name].value:.4f}" for name in peer)
    report(
        f"PRDC {n}x{n}x{d} float32",
        ours_s,
        peer_s,
        "prdc",
        f"identical: {equal} ({values})",
    )


def bench_kid(n: int, d: int) -> None:
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, gen = inception_like(n, d, 5), inception_like(n, d, 6, shift=0.05)
    kwargs = {
        "kid_subsets": 100,
        "kid_subset_size": 1000,
        "kid_kernel": "poly",
        "kid_kernel_poly_degree": 3,
        "kid_kernel_poly_gamma": None,
        "kid_kernel_poly_coef0": 1,
        "rng_seed": 7,
        "verbose": False,
    }
    peer, peer_s = timed(
        lambda: kid_features_to_metric(torch.from_numpy(gen), torch.from_numpy(real), **kwargs)
    )
    ours, ours_s = timed(lambda: metrics.kid(gen, real, subsets=100, subset_size=1000, seed=7))
    peer_mean = peer["kernel_inception_distance_mean"]
    report(
        f"KID {n}x{n}x{d}, 100 subsets of 1000",
        ours_s,
        peer_s,
        "torch-fidelity",
        f"KID {ours.value:.6g} (float64) vs {peer_mean:.6g} (torch-fidelity, float32): rel. diff {abs(ours.value - peer_mean) / abs(ours.value):.1e}",
    )
    # Same precision on both sides: torch-fidelity's numpy kernels run in the input's dtype.
    peer64, peer64_s = timed(
        lambda: kid_features_to_metric(
            torch.from_numpy(gen.astype(np.float64)),
            torch.from_numpy(real.astype(np.float64)),
            **kwargs,
        )
    )
    peer64_mean = peer64["kernel_inception_distance_mean"]
    report(
        "KID, torch-fidelity given float64",
        ours_s,
        peer64_s,
        "torch-fidelity",
        f"KID {ours.value:.6g} vs {peer64_mean:.6g}: rel. diff {abs(ours.value - peer64_mean) / abs(ours.value):.1e} (same subsets)",
    )


_MEMORY_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from benchmarks.metrics import inception_like
from app import metrics
real, gen = inception_like({n}, {d}, 8), inception_like({n}, {d}, 9, shift=0.1)
features = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = metrics.prdc(real, gen, k=5)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(seconds, features, peak, *(result[name].value for name in ("precision", "recall", "density", "coverage")))
"""


def bench_prdc_memory(n: int, d: int) -> None:
    code = _MEMORY_CHILD.format(root=str(ROOT), n=n, d=d)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    seconds, features_kb, peak_kb, *values = out.stdout.split()
    gib = 2**20
    print(
        f"PRDC {n}x{n}x{d} float32 memory      peak RSS {int(peak_kb) / gib:.2f} GiB "
        f"(features alone {int(features_kb) / gib:.2f} GiB), {float(seconds):.1f} s; "
        f"prdc would hold 3 x {n}^2 float32 distances = {3 * n * n * 4 / 2**30:.1f} GiB; "
        f"P/R/D/C {', '.join(f'{float(v):.4f}' for v in values)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="small arrays: a quick check that everything runs",
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the PRDC peak-memory run")
    args = parser.parse_args()
    if args.small:
        sizes = {
            "fid": (2000, 512),
            "prdc": (2000, 512),
            "kid": (2000, 512),
            "memory": (5000, 512),
        }
    else:
        sizes = {
            "fid": (10_000, 2048),
            "prdc": (10_000, 2048),
            "kid": (10_000, 2048),
            "memory": (50_000, 2048),
        }
    import threadpoolctl

    blas = threadpoolctl.threadpool_info()
    print(
        f"numpy {np.__version__}, BLAS threads {[b.get('num_threads') for b in blas]}",
        flush=True,
    )
    bench_fid(*sizes["fid"])
    bench_prdc(*sizes["prdc"])
    bench_kid(*sizes["kid"])
    if not args.skip_memory:
        bench_prdc_memory(*sizes["memory"])
    print(
        f"this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    )


if __name__ == "__main__":
    main()
