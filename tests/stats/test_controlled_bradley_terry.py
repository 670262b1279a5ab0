"""Controlled Bradley-Terry: recovers true ratings when raters favour the left side and higher
resolution, where plain Bradley-Terry is measurably biased; agrees with plain BT without effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.stats import battles_from_records, bootstrap_bradley_terry, bradley_terry
from app.stats.battles import Battles
from app.stats.controlled_bradley_terry import (
    SIDE,
    controlled_bradley_terry,
    normalized_difference,
    standardize,
)
from app.stats.exceptions import DegenerateDataError, StatsError

ALPHA = math.log(10) / 400  # Elo points to log-odds


def _simulate(seed, n_votes=6000, side_logit=0.4, resolution_logit=0.8):
    """Six generators; the best two upload small images, the weakest two large ones."""
    rng = np.random.default_rng(seed)
    truth = np.array([1120.0, 1080.0, 1010.0, 990.0, 920.0, 880.0])
    typical_side = np.array([512, 512, 768, 768, 1024, 1024], dtype=float)
    a = rng.integers(0, 6, n_votes)
    b = (a + rng.integers(1, 6, n_votes)) % 6
    res_a = typical_side[a] * rng.uniform(0.6, 1.4, n_votes)
    res_b = typical_side[b] * rng.uniform(0.6, 1.4, n_votes)
    z_raw = normalized_difference(res_a, res_b)
    z, _scales = standardize(z_raw[:, None])
    logit = ALPHA * (truth[a] - truth[b]) + side_logit + resolution_logit * z[:, 0]
    left_wins = rng.random(n_votes) < 1.0 / (1.0 + np.exp(-logit))
    names = [f"g{i}" for i in range(6)]
    battles = battles_from_records(
        [names[i] for i in a],
        [names[i] for i in b],
        ["model_a" if w else "model_b" for w in left_wins],
        generators=names,
    )
    return battles, z, truth - truth.mean() + 1000.0


def test_controlled_fit_recovers_the_truth_where_plain_bt_is_biased():
    battles, z, truth = _simulate(seed=7)
    controlled = controlled_bradley_terry(battles, z, ["resolution"], rounds=100, seed=1)
    low, high = controlled.rating_intervals
    covered = (low <= truth) & (truth <= high)
    assert covered.sum() >= 5, (controlled.fit.ratings, truth)
    controlled_error = np.abs(controlled.fit.ratings - truth).max()

    plain = bootstrap_bradley_terry(battles, rounds=100, seed=1)
    plain_error = np.abs(plain.ratings - truth).max()
    plain_covered = (plain.ci_low <= truth) & (truth <= plain.ci_high)
    # Plain BT credits the large-image generators with the raters' taste for resolution.
    assert plain_error > 3 * controlled_error
    assert plain_covered.sum() <= 3
    assert plain.ratings[5] > truth[5] + 30 and plain.ratings[0] < truth[0] - 30

    c_low, c_high = controlled.coefficient_intervals
    assert controlled.fit.coefficient_names == (SIDE, "resolution")
    assert c_low[0] <= 0.4 <= c_high[0] and c_low[1] <= 0.8 <= c_high[1]
    assert controlled.fit.converged


def test_without_side_or_covariate_effects_it_equals_plain_bradley_terry():
    battles, _z, _truth = _simulate(seed=3, n_votes=2000, side_logit=0.0, resolution_logit=0.0)
    controlled = controlled_bradley_terry(battles, side=False, rounds=0)
    plain = bradley_terry(battles)
    np.testing.assert_allclose(controlled.fit.ratings, plain.ratings, atol=1e-4)
    assert controlled.fit.coefficient_names == ()


def test_side_term_equals_the_log_odds_of_a_left_win_between_equals():
    # Two equal generators, each shown left half the time: left wins 60% of the votes.
    names = ["x", "y"]
    a = np.array([0, 1] * 500)
    b = 1 - a
    outcome = np.where(np.arange(1000) % 10 < 6, 2, 0).astype(np.int8)
    battles = Battles(tuple(names), a, b, outcome, np.zeros(1000, dtype=bool))
    fit = controlled_bradley_terry(battles, rounds=0).fit
    assert fit.coefficients[0] == pytest.approx(math.log(0.6 / 0.4), abs=1e-6)
    assert fit.ratings == pytest.approx([1000.0, 1000.0], abs=1e-3)


def test_bootstrap_is_seeded_and_serialises():
    battles, z, _truth = _simulate(seed=5, n_votes=800)
    one = controlled_bradley_terry(battles, z, ["resolution"], rounds=20, seed=4)
    two = controlled_bradley_terry(battles, z, ["resolution"], rounds=20, seed=4)
    np.testing.assert_array_equal(one.rating_samples, two.rating_samples)
    data = one.to_dict()
    assert set(data["coefficients"]) == {SIDE, "resolution"}
    assert data["coefficients"][SIDE]["odds_ratio"] == pytest.approx(
        math.exp(data["coefficients"][SIDE]["log_odds"])
    )
    assert data["bootstrap_rounds"] == 20 and data["seed"] == 4


def test_bad_inputs_are_refused():
    battles, z, _truth = _simulate(seed=2, n_votes=100)
    with pytest.raises(StatsError, match="names"):
        controlled_bradley_terry(battles, z, [], rounds=0)
    with pytest.raises(StatsError, match="rows"):
        controlled_bradley_terry(battles, z[:10], ["r"], rounds=0)
    with pytest.raises(StatsError, match="finite"):
        controlled_bradley_terry(battles, np.full((100, 1), np.nan), ["r"], rounds=0)
    with pytest.raises(DegenerateDataError):
        standardize(np.ones((5, 1)))
    with pytest.raises(StatsError):
        normalized_difference([-1.0], [1.0])
    assert normalized_difference([0.0, 3.0], [0.0, 1.0]).tolist() == [0.0, 0.5]


@pytest.mark.slow
def test_controlled_intervals_cover_the_truth_across_seeds():
    """Over 12 seeded studies: the controlled 95% intervals hold the true ratings about 95% of
    the time; plain Bradley-Terry's hold them far less often (its ratings are biased)."""
    controlled_hits, plain_hits, total = 0, 0, 0
    for seed in range(100, 112):
        battles, z, truth = _simulate(seed=seed, n_votes=3000)
        controlled = controlled_bradley_terry(battles, z, ["resolution"], rounds=100, seed=seed)
        low, high = controlled.rating_intervals
        controlled_hits += int(((low <= truth) & (truth <= high)).sum())
        plain = bootstrap_bradley_terry(battles, rounds=100, seed=seed)
        plain_hits += int(((plain.ci_low <= truth) & (truth <= plain.ci_high)).sum())
        total += truth.size
    print(
        f"\ncoverage of the true ratings: controlled {controlled_hits / total:.0%}, "
        f"plain {plain_hits / total:.0%} ({total} intervals)"
    )
    assert controlled_hits / total >= 0.85
    assert plain_hits / total <= 0.6
