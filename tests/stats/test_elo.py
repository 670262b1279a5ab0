"""Online Elo against the FastChat compute_elo reference (1e-9) and on hand-checked cases."""

from __future__ import annotations

import math

import pytest

from app.stats import battles_from_records, online_elo


def test_online_elo_matches_fastchat(battles_small, ratings_ref):
    result = online_elo(battles_small)
    for name, expected in ratings_ref["online_elo"].items():
        assert result.rating(name) == pytest.approx(expected, abs=1e-9)


def test_single_vote_by_hand():
    # Equal ratings: expected score 0.5, so the winner gains K/2.
    result = online_elo(battles_from_records(["x"], ["y"], ["model_a"]))
    assert result.rating("x") == pytest.approx(1002.0, abs=1e-12)
    assert result.rating("y") == pytest.approx(998.0, abs=1e-12)


def test_second_vote_uses_updated_ratings_and_parameters():
    result = online_elo(
        battles_from_records(["x", "y"], ["y", "x"], ["model_a", "tie (bothbad)"]),
        k=32,
        initial=1500,
    )
    # After x wins: x = 1516, y = 1484. Tie: x's expected score 1/(1+10**(-32/400)).
    expected_x = 1 / (1 + 10 ** (-32 / 400))
    assert result.rating("x") == pytest.approx(1516 + 32 * (0.5 - expected_x), abs=1e-9)
    assert result.rating("x") + result.rating("y") == pytest.approx(3000, abs=1e-9)


def test_order_matters():
    a, b, w = ["x", "x", "y"], ["y", "z", "z"], ["model_a", "model_b", "model_a"]
    forward = online_elo(battles_from_records(a, b, w))
    backward = online_elo(
        battles_from_records(a[::-1], b[::-1], w[::-1], generators=forward.generators)
    )
    assert not math.isclose(forward.rating("x"), backward.rating("x"), abs_tol=1e-6)
