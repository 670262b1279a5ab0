"""Bradley-Terry: agreement with the exact optimum and FastChat, known answers, graph cases, properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from app.stats import (
    Battles,
    UnknownGeneratorError,
    battles_from_records,
    bradley_terry,
    fit_bradley_terry,
)
from app.stats.io import read_battles


def fastchat_style_bt(battles: Battles) -> np.ndarray:
    """FastChat compute_bt: L-BFGS-B on the tie-as-half-win log-likelihood, on the Elo scale."""
    rows, counts = np.unique(
        np.column_stack([battles.a, battles.b, battles.outcome]), axis=0, return_counts=True
    )
    outcomes, alpha = rows[:, 2] / 2.0, math.log(10.0)

    def loss(r):
        p = 1 / (1 + np.exp(-alpha * (r[rows[:, 0]] - r[rows[:, 1]])))
        value = -np.sum((np.log(p) * outcomes + np.log(1 - p) * (1 - outcomes)) * counts)
        g = np.zeros_like(r)
        np.add.at(g, rows[:, 0], -alpha * (outcomes - p) * counts)
        np.add.at(g, rows[:, 1], alpha * (outcomes - p) * counts)
        return value, g

    x = minimize(
        loss,
        np.zeros(battles.n_generators),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-10, "maxiter": 1000},
    ).x
    return 400 * x + 1000


def random_battles(
    rng: np.random.Generator, k: int, n: int, tie_rate: float = 0.1, spread: float = 150.0
) -> Battles:
    truth = rng.normal(0, spread, k)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    p = 1 / (1 + 10 ** ((truth[b] - truth[a]) / 400))
    outcome = np.where(rng.random(n) < tie_rate, 1, np.where(rng.random(n) < p, 2, 0)).astype(
        np.int8
    )
    return Battles(tuple(f"g{i}" for i in range(k)), a, b, outcome, np.zeros(n, dtype=bool))


def test_matches_exact_newton_within_005_elo(battles_small, ratings_ref):
    result = bradley_terry(battles_small)
    for name, expected in ratings_ref["bt_exact_newton"].items():
        assert result.rating(name) == pytest.approx(expected, abs=0.05)
    assert np.mean(result.ratings) == pytest.approx(1000.0, abs=1e-9)
    assert result.fit.converged and result.warnings == ()


def test_matches_fastchat_compute_bt(battles_small, ratings_ref):
    result = bradley_terry(battles_small)
    for name, expected in ratings_ref["bt"].items():
        assert result.rating(name) == pytest.approx(expected, abs=0.05)


def test_wikipedia_known_answer(fixtures):
    ref = json.loads((fixtures / "bt_wikipedia_ref.json").read_text())
    result = bradley_terry(read_battles(fixtures / "bt_wikipedia.csv"))
    for name, expected in ref["bt_exact_elo_scale"].items():
        assert result.rating(name) == pytest.approx(expected, abs=1e-4)
    # The textbook answer: strengths 10**((R-1000)/400) with geometric mean 1.
    for name, power in ref["expected_power_geomean1"].items():
        assert 10 ** ((result.rating(name) - 1000) / 400) == pytest.approx(power, abs=6e-4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_lbfgs_on_random_logs(seed):
    battles = random_battles(np.random.default_rng(seed), k=8, n=3000)
    ours = np.array(bradley_terry(battles).ratings)
    np.testing.assert_allclose(ours, fastchat_style_bt(battles), atol=0.05)


def test_anchor_puts_generator_at_value(battles_small):
    plain = bradley_terry(battles_small)
    anchored = bradley_terry(battles_small, anchor=("gen03", 1114.0))
    assert anchored.rating("gen03") == pytest.approx(1114.0, abs=1e-9)
    shift = 1114.0 - plain.rating("gen03")
    np.testing.assert_allclose(
        np.array(anchored.ratings) - np.array(plain.ratings), shift, atol=1e-9
    )
    with pytest.raises(UnknownGeneratorError):
        bradley_terry(battles_small, anchor=("nobody", 1000.0))


def test_fit_from_pair_counts_matches_battles_and_gives_covariance(battles_small):
    from app.stats import unique_outcomes

    u = unique_outcomes(battles_small)
    wa, wb, t = u.pair_totals()
    fit = fit_bradley_terry(battles_small.n_generators, u.a, u.b, wa, wb, t)
    np.testing.assert_allclose(fit.ratings, bradley_terry(battles_small).ratings, atol=1e-9)
    # Covariance is in Elo^2 in the mean-zero gauge: rows sum to zero, SEs around 10 Elo for ~1000 votes each.
    np.testing.assert_allclose(fit.covariance.sum(axis=1), 0.0, atol=1e-6)
    assert np.all((fit.standard_errors > 5) & (fit.standard_errors < 20))
    # Observed information of a logistic model: Hessian is a weighted graph Laplacian.
    np.testing.assert_allclose(fit.hessian.sum(axis=1), 0.0, atol=1e-9)


def test_pair_counts_in_either_orientation_are_equivalent():
    fit1 = fit_bradley_terry(3, [0, 1], [1, 2], [7, 4], [3, 6], [2, 0])
    fit2 = fit_bradley_terry(
        3, [1, 0, 2, 1], [0, 1, 1, 2], [3, 0, 6, 0], [7, 0, 4, 0], [2, 0, 0, 0]
    )
    np.testing.assert_allclose(fit1.ratings, fit2.ratings, atol=1e-9)


def test_all_wins_generator_stays_finite():
    battles = battles_from_records(
        ["x"] * 10 + ["y"] * 5,
        ["y"] * 10 + ["z"] * 5,
        ["model_a"] * 10 + ["model_b"] * 3 + ["model_a"] * 2,
    )
    result = bradley_terry(battles)
    assert all(math.isfinite(r) for r in result.ratings)
    assert result.rating("x") > result.rating("y") + 400  # far ahead, but finite
    assert result.fit.converged


def test_disconnected_graph_is_reported_not_silently_ranked():
    battles = battles_from_records(
        ["a", "a", "c", "d"], ["b", "b", "d", "c"], ["model_a", "model_b", "model_a", "model_a"]
    )
    result = bradley_terry(battles)
    assert len(result.components) == 2
    assert {frozenset(c) for c in result.components} == {
        frozenset({"a", "b"}),
        frozenset({"c", "d"}),
    }
    assert any("disconnected" in w for w in result.warnings)
    # Each component is centred on its own.
    assert result.rating("a") + result.rating("b") == pytest.approx(2000, abs=1e-9)
    assert result.rating("c") + result.rating("d") == pytest.approx(2000, abs=1e-9)
    assert result.to_dict()["components"] and result.to_dict()["warnings"]


def test_single_generator_and_no_votes():
    lone = fit_bradley_terry(1, [], [], [], [], [])
    assert lone.ratings.tolist() == [1000.0] and lone.converged
    empty = bradley_terry(battles_from_records([], [], [], generators=["a", "b"]))
    assert empty.ratings == (1000.0, 1000.0)
    assert any("no votes" in w for w in empty.warnings)
    nothing = fit_bradley_terry(0, [], [], [], [], [])
    assert nothing.ratings.size == 0


votes = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(1, 4),
        st.sampled_from(["model_a", "model_b", "tie", "tie (bothbad)"]),
    ),
    min_size=1,
    max_size=60,
)


def _battles(rows) -> Battles:
    names = [f"g{i}" for i in range(5)]
    a = [names[x] for x, _, _ in rows]
    b = [names[(x + d) % 5] for x, d, _ in rows]
    return battles_from_records(a, b, [w for _, _, w in rows], generators=names)


SWAP = {"model_a": "model_b", "model_b": "model_a", "tie": "tie", "tie (bothbad)": "tie (bothbad)"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(votes)
def test_swapping_sides_of_every_vote_leaves_bt_unchanged(rows):
    swapped = [(((x + d) % 5), (-d) % 5, SWAP[w]) for x, d, w in rows]
    one, other = bradley_terry(_battles(rows)), bradley_terry(_battles(swapped))
    np.testing.assert_allclose(one.ratings, other.ratings, atol=1e-6)
    # And Battles.swapped does the same relabelling.
    np.testing.assert_allclose(
        bradley_terry(_battles(rows).swapped()).ratings, one.ratings, atol=1e-6
    )


@settings(max_examples=60, deadline=None)
@given(votes, st.floats(-5000, 5000), st.floats(-5000, 5000))
def test_changing_anchor_value_shifts_everything_by_the_same_constant(rows, v1, v2):
    battles = _battles(rows)
    name = battles.generators[int(battles.a[0])]
    r1 = np.array(bradley_terry(battles, anchor=(name, v1)).ratings)
    r2 = np.array(bradley_terry(battles, anchor=(name, v2)).ratings)
    component = bradley_terry(battles).fit.components
    same = component == component[int(battles.a[0])]
    np.testing.assert_allclose((r2 - r1)[same], v2 - v1, atol=1e-6)
    np.testing.assert_allclose((r2 - r1)[~same], 0.0, atol=1e-9)


def test_ridge_is_negligible_on_a_connected_log(battles_small):
    default = np.array(bradley_terry(battles_small).ratings)
    tiny = np.array(bradley_terry(battles_small, ridge=1e-12).ratings)
    np.testing.assert_allclose(default, tiny, atol=1e-6)


def test_warm_start_from_any_point_reaches_the_same_optimum(battles_small):
    from app.stats import unique_outcomes

    u = unique_outcomes(battles_small)
    wa, wb, t = u.pair_totals()
    cold = fit_bradley_terry(6, u.a, u.b, wa, wb, t)
    warm = fit_bradley_terry(
        6, u.a, u.b, wa, wb, t, theta0=np.array([5.0, -1.0, 3.0, 0.0, 2.0, 9.0])
    )
    np.testing.assert_allclose(warm.ratings, cold.ratings, atol=1e-6)
    assert warm.converged
