"""MOS against mos_ref.json (1e-12) and the normalisation mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.stats import DegenerateDataError, mean_opinion_scores
from app.stats.io import read_mos


@pytest.fixture(scope="module")
def mos_data(fixtures):
    return read_mos(fixtures / "mos_ratings.csv"), json.loads(
        (fixtures / "mos_ref.json").read_text()
    )


def test_means_sds_and_intervals_match_reference(mos_data):
    data, ref = mos_data
    result = mean_opinion_scores(data.models, data.items, data.raters, data.scores)
    for name, expected in ref["per_model"].items():
        got = result.models[name]
        assert got.mean == pytest.approx(expected["mean"], abs=1e-12)
        assert got.sd == pytest.approx(expected["sd"], abs=1e-12)
        assert got.n == expected["n_ratings"] and got.n_items == expected["n_items"]
        assert (got.ci_low, got.ci_high) == pytest.approx(
            tuple(expected["ci95_t_all_ratings"]), abs=1e-12
        )
        assert (got.ci_items_low, got.ci_items_high) == pytest.approx(
            tuple(expected["ci95_t_item_means"]), abs=1e-12
        )
    for rater, mean in ref["per_rater_mean"].items():
        assert result.raters[rater].mean == pytest.approx(mean, abs=1e-12)
    assert sum(r.offset * r.n for r in result.raters.values()) == pytest.approx(0.0, abs=1e-9)


def test_normalisation_removes_rater_offsets_and_keeps_the_scale(mos_data):
    data, _ = mos_data
    raw = mean_opinion_scores(data.models, data.items, data.raters, data.scores)
    norm = mean_opinion_scores(data.models, data.items, data.raters, data.scores, normalise=True)
    assert norm.normalised
    # Balanced design (every rater rates every item): the grand mean is preserved exactly.
    overall = np.mean([m.mean for m in norm.models.values()])
    assert overall == pytest.approx(raw.grand_mean, abs=1e-12)
    assert [m for m in sorted(norm.models, key=lambda k: -norm.models[k].mean)] == [
        "gen_a",
        "gen_b",
        "gen_c",
        "gen_d",
    ]


def test_normalisation_by_hand():
    # Rater r2 is r1 shifted by +1 and scaled by 2: after z-scoring they agree exactly.
    models = ["m", "m", "n", "n"] * 2
    items = ["i1", "i2", "i3", "i4"] * 2
    raters = ["r1"] * 4 + ["r2"] * 4
    r1 = [1.0, 2.0, 3.0, 4.0]
    scores = r1 + [2 * x + 1 for x in r1]
    result = mean_opinion_scores(models, items, raters, scores, normalise=True)
    x = np.array(scores)
    z = (np.array(r1) - 2.5) / np.std(r1, ddof=1)
    expected_m = x.mean() + x.std(ddof=1) * z[:2].mean()
    assert result.models["m"].mean == pytest.approx(expected_m, abs=1e-12)


def test_degenerate_inputs_raise():
    with pytest.raises(DegenerateDataError):
        mean_opinion_scores([], [], [], [])
    with pytest.raises(DegenerateDataError, match="r1"):
        mean_opinion_scores(["m", "m"], ["a", "b"], ["r1", "r1"], [3, 3], normalise=True)
    single = mean_opinion_scores(["m"], ["a"], ["r"], [4])
    assert single.models["m"].sd is None and single.models["m"].ci_low is None
