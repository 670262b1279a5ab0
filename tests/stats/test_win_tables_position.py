"""Win tables and position bias against the FastChat notebook values."""

from __future__ import annotations

import numpy as np
import pytest

from app.stats import (
    battles_from_records,
    bradley_terry,
    position_bias,
    wilson_interval,
    win_tables,
)


def test_tables_match_reference(battles_small, ratings_ref):
    tables = win_tables(battles_small, bradley_terry(battles_small).ratings).to_dict()
    for a, row in ratings_ref["pairwise_win_fraction_no_ties"].items():
        for b, value in row.items():
            assert tables["observed_win_rate"][a][b] == pytest.approx(value, abs=1e-12)
    for a, row in ratings_ref["predict_win_rate_from_bt"].items():
        for b, value in row.items():
            assert tables["predicted_win_rate"][a][b] == pytest.approx(value, abs=1e-6)
    for a, value in ratings_ref["average_win_rate_no_ties"].items():
        assert tables["average_win_rate"][a] == pytest.approx(value, abs=1e-12)


def test_counts_by_hand():
    battles = battles_from_records(
        ["x", "y", "x", "x"], ["y", "x", "z", "y"], ["model_a", "model_a", "tie", "tie (bothbad)"]
    )
    t = win_tables(battles)
    x, y, z = (battles.index(n) for n in "xyz")
    assert t.votes[x, y] == t.votes[y, x] == 3 and t.votes[x, z] == 1 and t.votes[y, z] == 0
    assert t.wins[x, y] == 1 and t.wins[y, x] == 1 and t.ties[x, y] == 1
    assert t.observed_win_rate[x, y] == 0.5 and np.isnan(t.observed_win_rate[x, z])
    assert t.to_dict()["observed_win_rate"]["x"]["z"] is None
    assert t.decisive_win_rate[x] == 0.5


def test_position_bias_matches_reference_and_statsmodels_wilson(battles_small, ratings_ref):
    from statsmodels.stats.proportion import proportion_confint

    result = position_bias(battles_small)
    ref = ratings_ref["position"]
    assert result.left_share == pytest.approx(ref["model_a(left)_win_share_of_decisive"], abs=1e-12)
    assert result.decisive == ref["n_decisive"]
    low, high = proportion_confint(result.left_wins, result.decisive, alpha=0.05, method="wilson")
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert not result.flagged  # 0.516 with n = 2706: the CI still contains 0.5


def test_position_bias_is_flagged_when_ci_excludes_half():
    n = 400
    battles = battles_from_records(["x"] * n, ["y"] * n, ["model_a"] * 240 + ["model_b"] * 160)
    result = position_bias(battles)
    assert result.flagged and result.ci_low > 0.5
    ties_only = position_bias(battles_from_records(["x"], ["y"], ["tie"]))
    assert ties_only.left_share is None and not ties_only.flagged


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (3, 7), (500, 1000)])
def test_wilson_interval_agrees_with_statsmodels(k, n):
    from statsmodels.stats.proportion import proportion_confint

    assert wilson_interval(k, n) == pytest.approx(
        proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-12
    )
