"""Votes still needed to separate neighbours on the board, checked against forward simulation.

The simulated truth (app.stats.votes_needed.simulated_votes_needed): from the TRUE ratings,
continue the study from its current votes with the same mix of pairs, refit at each step, and
find the number of further votes after which half of 100 simulations separate the pair (95%
Wald criterion). That is the median outcome a researcher plans with.

What the test measures, on 24 seeded studies (6 generators, ratings ~ N(1000, 60^2), 1,500
uniform votes), over the neighbours not yet separated (a separated pair needs 0 and gets 0):
the share whose estimate lies within a factor 1.5 and 2 of the simulated truth, the median
log-ratio (bias), and how often the reported 80% range contains the truth. Measured on
2026-12-04 with these seeds (73 unseparated neighbours, 40 separated ones): within 1.5x 27%,
within 2x 45%, median ratio 1.30, 80% range covers 81%; plugging the estimated gap in instead:
within 1.5x 16%, median ratio 1.85; separated pairs: 40 of 40 exact (0 needed, 0 simulated).

Why "within 1.5x in 80% of trials" is out of reach for pairs not yet separated, measured here:
(1) the planning formula given the TRUE gap lands within 1.5x of the simulated truth in 96% of
the pairs (median ratio 1.03): the truth is, nearly, a function of the gap; (2) from the current
votes the gap is known only up to its posterior, even with the simulations' true prior
N(1000, 60^2) given to it, and the best any single number can do is to be within 1.5x of the
votes that posterior implies with probability 26% on average (the "ceiling": the largest
posterior mass one 1.5x window holds). The estimate reaches 27%, at the ceiling. The
assertions fail if the formula stops matching the simulation, the ceiling rises to 80%, the
estimate becomes biased (median ratio beyond 1.5x either way), the range miscalibrated
(coverage outside 65-95%), or no better than plugging the estimated gap in.
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from app.stats import battles_from_records
from app.stats.battles import unique_outcomes
from app.stats.bradley_terry import fit_bradley_terry
from app.stats.exceptions import StatsError
from app.stats.votes_needed import (
    adjacent_votes_needed,
    information_needed,
    posterior,
    simulated_votes_needed,
)

ALPHA = math.log(10) / 400
Z = 1.959963984540054


def study(seed: int, k: int = 6, n: int = 1500, sd: float = 60.0):
    rng = np.random.default_rng(seed)
    truth = 1000 + rng.normal(0, sd, k)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    win = rng.random(n) < 1 / (1 + np.exp(-ALPHA * (truth[a] - truth[b])))
    names = [f"g{i}" for i in range(k)]
    battles = battles_from_records(
        [names[x] for x in a],
        [names[x] for x in b],
        ["model_a" if w else "model_b" for w in win],
        generators=names,
    )
    u = unique_outcomes(battles)
    wins_a, wins_b, ties = u.pair_totals()
    return truth, battles, fit_bradley_terry(k, u.a, u.b, wins_a, wins_b, ties)


def test_information_needed_solves_the_separation_condition():
    d, v = 20.0, 200.0  # not separated: 20 < 1.96 * 14.1
    gaps = np.array([20.0, 40.0, -30.0, 0.0])
    x = information_needed(d, v, gaps, Z)
    i0 = 1 / v
    for gap, added in zip(gaps[:3], x[:3]):
        assert (i0 * d + added * gap) ** 2 == pytest.approx(Z * Z * (i0 + added))
    # With the true gap equal to the estimate it is the textbook n (z^2 v / d^2 - 1) votes.
    n = 1000
    assert x[0] * v * n == pytest.approx(n * (Z * Z * v / d**2 - 1))
    assert x[1] < x[0] and math.isinf(x[3])  # a larger gap needs less; a zero gap never
    assert information_needed(40.0, 200.0, gaps, Z).tolist() == [0.0] * 4  # already separated


def test_neighbours_in_board_order_and_separated_pairs_need_nothing():
    _truth, battles, fit = study(seed=1)
    needed = adjacent_votes_needed(fit, battles.generators)
    order = [battles.generators[i] for i in np.argsort(-fit.ratings)]
    assert [(e.higher, e.lower) for e in needed] == list(itertools.pairwise(order))
    for e in needed:
        assert e.difference >= 0 and e.n_votes == len(battles)
        if e.separated:
            assert (e.more_votes, e.head_to_head) == (0, 0)
        else:
            assert e.more_votes_low <= e.more_votes <= e.more_votes_high
            assert abs(e.difference) < Z * e.sd
    assert any(e.separated for e in needed) and not all(e.separated for e in needed)
    data = needed[0].to_dict()
    assert set(data) >= {"higher", "lower", "more_votes", "more_votes_high", "head_to_head"}


def test_simulated_truth_is_checked():
    truth, _battles, fit = study(seed=2, n=300)
    with pytest.raises(StatsError):
        simulated_votes_needed(truth, fit.pairs, [(0, 1)], grid=np.array([10, 5]))


def best_window_mass(values: np.ndarray, factor: float) -> float:
    """The largest share of equally weighted `values` that one window [x / factor, x * factor]
    holds: the most often any single number can be within `factor` of a quantity distributed
    like `values`."""
    logs = np.sort(np.log(values[np.isfinite(values) & (values > 0)]))
    if logs.size == 0:
        return 0.0
    ends = np.searchsorted(logs, logs + 2 * math.log(factor), side="right")
    return float(np.max(ends - np.arange(logs.size))) / values.size


def oracle_votes(fit, higher: int, lower: int, true_sd: float, points: int = 401) -> np.ndarray:
    """Further votes needed (the study's pair mix) over the posterior of the gap under the TRUE
    prior of the simulated studies, N(1000, true_sd^2): what the best-informed estimate from the
    current votes can know about the truth."""
    mean, cov = posterior(fit.ratings, fit.covariance, true_sd**2)
    contrast = np.zeros(fit.ratings.size)
    contrast[higher], contrast[lower] = 1.0, -1.0
    gaps = float(contrast @ mean) + math.sqrt(float(contrast @ cov @ contrast)) * np.array(
        [NormalDist().inv_cdf((i + 0.5) / points) for i in range(points)]
    )
    d = float(fit.ratings[higher] - fit.ratings[lower])
    c = fit.covariance
    v = float(c[higher, higher] + c[lower, lower] - 2 * c[higher, lower])
    return information_needed(d, v, gaps, Z) * v * float(fit.pairs.votes.sum())


def test_best_window_mass():
    assert best_window_mass(np.array([1.0, 1.4, 2.2, 10.0]), 1.5) == 0.75
    assert best_window_mass(np.array([1.0, 3.0, 9.0, np.inf]), 1.5) == 0.25


@pytest.mark.slow
def test_estimate_against_forward_simulations_from_the_true_ratings():
    ratios, plug_in, covered, exact, ceilings, model = [], [], [], 0, [], []
    for seed in range(24):
        truth, battles, fit = study(seed)
        needed = adjacent_votes_needed(fit, battles.generators)
        pairs = [(battles.index(e.higher), battles.index(e.lower)) for e in needed]
        grid = np.unique(np.r_[0, np.geomspace(20, 150_000, 45).round()]).astype(int)
        simulated = simulated_votes_needed(
            truth, fit.pairs, pairs, grid=grid, simulations=100, seed=1000 + seed
        )
        for e, (hi, lo), true_more in zip(needed, pairs, simulated):
            if e.separated:
                exact += true_more == 0
                continue
            covered.append(e.more_votes_low <= true_more <= e.more_votes_high)
            if not (math.isfinite(true_more) and math.isfinite(e.more_votes) and true_more > 0):
                continue
            ratios.append(e.more_votes / true_more)
            n = e.n_votes
            plug_in.append(n * (Z * Z * e.sd**2 / e.difference**2 - 1) / true_more)
            ceilings.append(best_window_mass(oracle_votes(fit, hi, lo, 60.0), 1.5))
            # The planning formula with the true gap plugged in, against the simulated truth.
            d, c = e.difference, fit.covariance
            v = float(c[hi, hi] + c[lo, lo] - 2 * c[hi, lo])
            x = information_needed(d, v, np.array([truth[hi] - truth[lo]]), Z)[0]
            model.append(x * v * n / true_more)
    ratios, plug_in, model = np.array(ratios), np.array(plug_in), np.array(model)
    within = lambda r, f: float(np.mean((r <= f) & (r >= 1 / f)))  # noqa: E731
    bias = float(np.median(np.log(ratios)))
    ceiling = float(np.mean(ceilings))
    print(
        f"\nunseparated neighbours: {ratios.size}; within 1.5x {within(ratios, 1.5):.0%}, "
        f"within 2x {within(ratios, 2):.0%}, median ratio {math.exp(bias):.2f}, "
        f"80% range covers {np.mean(covered):.0%}; plug-in: within 1.5x "
        f"{within(plug_in, 1.5):.0%}, median ratio {math.exp(np.median(np.log(plug_in))):.2f}; "
        f"separated pairs exact: {exact}; the formula given the TRUE gap: within 1.5x "
        f"{within(model, 1.5):.0%}, median ratio {math.exp(np.median(np.log(model))):.2f}; "
        f"ceiling for ANY estimate from the current votes (true prior known): {ceiling:.0%}"
    )
    # Why 80 % within 1.5x cannot be reached: given the true gap, the formula lands within 1.5x
    # of the simulated truth almost always, so the truth is (nearly) a function of the gap; but
    # from the current votes the gap is known only up to its posterior, and no single number
    # is within 1.5x of the votes that posterior implies with probability near 0.8.
    assert within(model, 1.5) >= 0.8
    assert ceiling < 0.8
    assert within(ratios, 1.5) <= ceiling + 0.1
    assert ratios.size >= 40
    assert exact > 0  # a separated pair needs no more votes, in simulation too
    assert abs(bias) < math.log(1.5)
    assert 0.65 <= np.mean(covered) <= 0.95
    assert within(ratios, 2) >= 0.35
    # Carrying the gap's uncertainty beats plugging the estimated gap in.
    assert abs(bias) < abs(np.median(np.log(plug_in)))
    assert within(ratios, 1.5) >= within(plug_in, 1.5)
