"""Ratings over time and per prompt category."""

from __future__ import annotations

import numpy as np
import pytest

from app.stats import battles_from_records, bootstrap_bradley_terry
from app.stats.exceptions import StatsError
from app.stats.trajectory import (
    category_boards,
    default_checkpoints,
    rating_trajectory,
)

ALPHA = np.log(10) / 400


def _votes(rng, truth, n, names):
    k = len(truth)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    p = 1.0 / (1.0 + np.exp(-ALPHA * (truth[a] - truth[b])))
    win = rng.random(n) < p
    return (
        [names[i] for i in a],
        [names[i] for i in b],
        ["model_a" if w else "model_b" for w in win],
    )


def _two_categories(seed=0, n=1500):
    """Photos: g0 far ahead; text: g2 far ahead; g1 in the middle in both."""
    rng = np.random.default_rng(seed)
    names = ["g0", "g1", "g2"]
    photo = _votes(rng, np.array([1250.0, 1000.0, 900.0]), n, names)
    text = _votes(rng, np.array([900.0, 1000.0, 1250.0]), n, names)
    a, b, w = (photo[i] + text[i] for i in range(3))
    categories = ["photo"] * n + ["text"] * n
    return battles_from_records(a, b, w, generators=names), categories


def test_each_category_board_equals_the_fit_on_its_subset_and_names_a_separated_leader():
    battles, categories = _two_categories()
    boards = {b.category: b for b in category_boards(battles, categories, rounds=100, seed=3)}
    assert set(boards) == {"photo", "text"}
    assert (boards["photo"].leader, boards["text"].leader) == ("g0", "g2")
    mask = np.asarray(categories) == "text"
    a, b = (
        np.asarray(battles.generators)[battles.a[mask]],
        np.asarray(battles.generators)[battles.b[mask]],
    )
    winner = np.where(battles.outcome[mask] == 2, "model_a", "model_b")
    subset = battles_from_records(list(a), list(b), list(winner), generators=battles.generators)
    alone = bootstrap_bradley_terry(subset, rounds=100, seed=3)
    np.testing.assert_allclose(boards["text"].result.ratings, alone.ratings)
    np.testing.assert_allclose(boards["text"].result.ci_low, alone.ci_low)
    assert boards["text"].n_votes == 1500 and boards["text"].votes_per_generator.sum() == 3000


def test_no_leader_when_the_top_two_are_not_separated():
    rng = np.random.default_rng(1)
    names = ["g0", "g1", "g2"]
    a, b, w = _votes(rng, np.array([1100.0, 1095.0, 800.0]), 300, names)
    battles = battles_from_records(a, b, w, generators=names)
    (board,) = category_boards(battles, ["all"] * 300, rounds=100, seed=0)
    assert board.leader is None


def test_votes_without_a_category_are_left_out_and_lengths_must_match():
    battles, categories = _two_categories(n=200)
    categories = [None] * 200 + ["text"] * 200
    boards = category_boards(battles, categories, rounds=20)
    assert [b.category for b in boards] == ["text"]
    with pytest.raises(StatsError):
        category_boards(battles, ["x"], rounds=20)


def test_trajectory_narrows_and_ends_at_the_full_fit():
    battles, _ = _two_categories(n=600)
    path = rating_trajectory(battles, rounds=100, seed=2)
    assert path.votes[-1] == len(battles) and len(path.votes) == 10
    full = bootstrap_bradley_terry(battles, rounds=100, seed=2)
    np.testing.assert_allclose(path.ratings[-1], full.ratings)
    width = path.ci_high - path.ci_low
    assert np.all(width[-1] < width[0])
    data = path.to_dict()
    assert data["votes"][-1] == 1200 and len(data["generators"]["g0"]["ci_low"]) == 10


def test_checkpoints_are_checked():
    battles, _ = _two_categories(n=50)
    assert default_checkpoints(0) == [] and default_checkpoints(3) == [1, 2, 3]
    with pytest.raises(StatsError):
        rating_trajectory(battles, [0, 10])
    with pytest.raises(StatsError):
        rating_trajectory(battles, [101])


def test_an_anchor_holds_one_generator_fixed_at_every_checkpoint():
    battles, _ = _two_categories(n=400)
    path = rating_trajectory(battles, rounds=50, seed=1, anchor=("g1", 1000.0))
    np.testing.assert_allclose(path.ratings[:, 1], 1000.0)
    np.testing.assert_allclose(path.ci_low[:, 1], 1000.0)
    free = rating_trajectory(battles, rounds=50, seed=1)
    # The same differences, another reference.
    np.testing.assert_allclose(
        path.ratings - path.ratings[:, [1]], free.ratings - free.ratings[:, [1]], atol=1e-6
    )
    assert path.to_dict()["anchor"] == {"generator": "g1", "value": 1000.0}
