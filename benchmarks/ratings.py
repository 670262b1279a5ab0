"""Bradley-Terry + bootstrap speed against a FastChat-style reference on the same generated logs.

    python benchmarks/ratings.py [--rounds 1000] [--ref-rounds 100] [--threads 1] [--repeat 3] [--quick]

For each log (200,000 votes / 50 generators and 1,000,000 votes / 100 generators) it times our
point fit plus `--rounds` bootstrap rounds (app.stats.bootstrap_bradley_terry, default sampler),
then a faithful re-implementation of FastChat's compute_bt / compute_bootstrap_bt (unique
(a, b, outcome) rows, L-BFGS-B on the tie-as-half-win log-likelihood, gtol 1e-6, maxiter 100,
numpy default_rng multinomial over the rows) for `--ref-rounds` rounds, in one process, and
prints per-round times and their ratio, plus how far apart the two answers are.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path


def _pin_threads(n: int) -> None:
    # Must happen before numpy loads OpenBLAS: batched 50x50 solves gain nothing from threads on a
    # 2-core machine and oversubscribe it when other work runs.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


if __name__ == "__main__":
    _threads = argparse.ArgumentParser(add_help=False)
    _threads.add_argument("--threads", type=int, default=1)
    _pin_threads(_threads.parse_known_args()[0].threads)

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.stats import Battles, bootstrap_bradley_terry


def generate_log(n_votes: int, n_generators: int, seed: int) -> Battles:
    """Seeded synthetic log: Elo ~ N(1000, 120), uneven sampling, 10% ties, +15 Elo left bias."""
    rng = np.random.default_rng(seed)
    elo = rng.normal(1000, 120, n_generators)
    weights = rng.uniform(0.3, 3.0, n_generators)
    p = weights / weights.sum()
    a = rng.choice(n_generators, n_votes, p=p)
    b = rng.choice(n_generators - 1, n_votes, p=None)
    b = np.where(b >= a, b + 1, b)  # uniform over opponents other than a
    p_left = 1 / (1 + 10 ** ((elo[b] - elo[a] - 15) / 400))
    tie = rng.random(n_votes) < 0.1
    outcome = np.where(tie, 1, np.where(rng.random(n_votes) < p_left, 2, 0)).astype(np.int8)
    names = tuple(f"gen{i:03d}" for i in range(n_generators))
    return Battles(
        names, a.astype(np.int64), b.astype(np.int64), outcome, tie & (rng.random(n_votes) < 0.4)
    )


# ----------------------------------------------------------------------------- FastChat reference
# fastchat/serve/monitor/rating_systems.py (preprocess_for_bt, bt_loss_and_grad, fit_bt,
# scale_and_offset, compute_bt, compute_bootstrap_bt), with the DataFrame plumbing replaced by
# the equivalent arrays. FastChat maps the bootstrap over mp.Pool; here it runs in this process.


def fastchat_preprocess(battles: Battles):
    schedule = np.full((len(battles), 3), fill_value=1, dtype=np.int32)
    schedule[:, 0], schedule[:, 1] = battles.a, battles.b
    schedule[battles.outcome == 2, 2] = 2
    schedule[battles.outcome == 0, 2] = 0
    matchups_outcomes, weights = np.unique(schedule, return_counts=True, axis=0)
    return (
        matchups_outcomes[:, [0, 1]],
        matchups_outcomes[:, 2].astype(np.float64) / 2.0,
        weights.astype(np.float64),
    )


def fastchat_loss_and_grad(ratings, matchups, outcomes, weights, alpha=1.0):
    matchup_ratings = ratings[matchups]
    logits = alpha * (matchup_ratings[:, 0] - matchup_ratings[:, 1])
    probs = expit(logits)
    loss = -((np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)) * weights).sum()
    matchups_grads = -alpha * (outcomes - probs) * weights
    model_grad = np.zeros_like(ratings)
    np.add.at(
        model_grad,
        matchups[:, [0, 1]],
        matchups_grads[:, None] * np.array([1.0, -1.0], dtype=np.float64),
    )
    return loss, model_grad


# FastChat passes options={"disp": False}, which SciPy 1.17 deprecates; keep the call, drop the noise.
warnings.filterwarnings(
    "ignore", message=".*`disp` and `iprint` options.*", category=DeprecationWarning
)


def fastchat_fit(matchups, outcomes, weights, n_models, alpha, tol=1e-6):
    result = minimize(
        fun=fastchat_loss_and_grad,
        x0=np.zeros(n_models, dtype=np.float64),
        args=(matchups, outcomes, weights, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"disp": False, "maxiter": 100, "gtol": tol},
    )
    return result["x"]


def fastchat_compute_bt(battles: Battles, scale=400.0, init=1000.0):
    matchups, outcomes, weights = fastchat_preprocess(battles)
    return (
        scale * fastchat_fit(matchups, outcomes, weights, battles.n_generators, np.log(10.0)) + init
    )


def fastchat_bootstrap_bt(battles: Battles, rounds: int, seed: int = 0, scale=400.0, init=1000.0):
    matchups, outcomes, weights = fastchat_preprocess(battles)
    rng = np.random.default_rng(seed=seed)
    idxs = rng.multinomial(n=len(battles), pvals=weights / weights.sum(), size=rounds)
    boot_weights = idxs.astype(np.float64) / len(battles)
    results = [
        fastchat_fit(matchups, outcomes, w, battles.n_generators, np.log(10.0))
        for w in boot_weights
    ]
    return scale * np.array(results) + init


# ----------------------------------------------------------------------------- driver


def _median_time(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench(
    n_votes: int, n_generators: int, rounds: int, ref_rounds: int, seed: int, repeat: int
) -> None:
    battles = generate_log(n_votes, n_generators, seed)
    print(f"\n== {n_votes:,} votes, {n_generators} generators (median of {repeat} runs) ==")
    bootstrap_bradley_terry(battles, rounds=10, seed=seed)  # warm-up (imports, allocator)

    ours_s, ours = _median_time(
        lambda: bootstrap_bradley_terry(battles, rounds=rounds, seed=seed), repeat
    )
    print(
        f"ours: BT + {rounds} bootstrap rounds            {ours_s:7.3f} s   {1e3 * ours_s / rounds:8.3f} ms/round"
        f"   ({ours.converged_rounds}/{rounds} converged)"
    )

    ref_s, (ref_point, ref_samples) = _median_time(
        lambda: (
            fastchat_compute_bt(battles),
            fastchat_bootstrap_bt(battles, ref_rounds, seed=seed),
        ),
        repeat,
    )
    print(
        f"FastChat-style: BT + {ref_rounds} rounds (L-BFGS-B)  {ref_s:7.3f} s   {1e3 * ref_s / ref_rounds:8.3f} ms/round"
    )
    print(
        f"per-round speed-up (FastChat-style / ours): {(ref_s / ref_rounds) / (ours_s / rounds):7.1f}x"
    )

    point_gap = np.max(np.abs(ours.ratings - ref_point))
    ref_width = np.quantile(ref_samples, 0.975, axis=0) - np.quantile(ref_samples, 0.025, axis=0)
    our_width = ours.ci_high - ours.ci_low
    print(
        f"max |BT ours - FastChat-style| = {point_gap:.4f} Elo; "
        f"CI width ratio ours/ref median {np.median(our_width / ref_width):.3f} "
        f"(ref from {ref_rounds} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--ref-rounds", type=int, default=100)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (set before numpy loads)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per measurement (median shown)"
    )
    parser.add_argument("--quick", action="store_true", help="only the 200k / 50 log")
    args = parser.parse_args()
    print(f"numpy {np.__version__}, BLAS threads {args.threads}, {os.cpu_count()} CPUs")
    sizes = [(200_000, 50)] if args.quick else [(200_000, 50), (1_000_000, 100)]
    for n_votes, n_generators in sizes:
        bench(n_votes, n_generators, args.rounds, args.ref_rounds, args.seed, args.repeat)


if __name__ == "__main__":
    main()
