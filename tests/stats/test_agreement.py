"""Agreement: statsmodels and krippendorff on the fixtures and on random inputs, degenerate cases,
annotator quality and exclusion."""

from __future__ import annotations

import json
from itertools import permutations

import numpy as np
import pytest

from app.stats import (
    DegenerateDataError,
    ExclusionRule,
    StatsError,
    annotator_quality,
    encode_ratings,
    exclude_annotators,
    fleiss_kappa,
    fleiss_kappa_from_ratings,
    krippendorff_alpha,
    leave_one_out_agreement,
)
from app.stats.io import read_mos, read_ratings


def alpha_by_coincidences(codes: np.ndarray, level: str) -> float:
    """Krippendorff's alpha written out from the coincidence matrix (Krippendorff 2011, sec. C-E)."""
    values = np.unique(codes[~np.isnan(codes)])
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((values.size, values.size))
    for row in codes:
        present = row[~np.isnan(row)]
        if present.size < 2:
            continue
        for x, y in permutations(range(present.size), 2):
            o[index[present[x]], index[present[y]]] += 1.0 / (present.size - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if level == "nominal":
        d = 1.0 - np.eye(values.size)
    elif level == "interval":
        d = (values[:, None] - values[None, :]) ** 2
    else:  # ordinal
        cum = np.cumsum(n_c)
        d = np.zeros((values.size, values.size))
        for c in range(values.size):
            for k in range(values.size):
                lo, hi = min(c, k), max(c, k)
                d[c, k] = (cum[hi] - (cum[lo - 1] if lo else 0.0) - (n_c[c] + n_c[k]) / 2) ** 2
    d_o = (o * d).sum()
    d_e = (np.outer(n_c, n_c) * d).sum() / (n - 1)
    return 1.0 - d_o / d_e


@pytest.fixture(scope="module")
def agreement_ref(fixtures):
    return json.loads((fixtures / "agreement_ref.json").read_text())


def test_fixture_values(fixtures, agreement_ref):
    table = read_ratings(fixtures / "agreement_ratings.csv")
    assert table.raters == ("rater1", "rater2", "rater3")  # true_label is not a rater
    assert fleiss_kappa_from_ratings(table.labels) == pytest.approx(
        agreement_ref["fleiss_kappa"], abs=1e-12
    )
    assert krippendorff_alpha(table.labels, "nominal") == pytest.approx(
        agreement_ref["krippendorff_alpha_nominal"], abs=1e-12
    )
    missing = read_ratings(fixtures / "agreement_ratings_missing.csv")
    expected = agreement_ref["missing_variant"]["krippendorff_alpha_nominal"]
    assert krippendorff_alpha(missing.labels, "nominal") == pytest.approx(expected, abs=1e-12)
    assert (
        sum(v is not None for row in missing.labels for v in row)
        == agreement_ref["missing_variant"]["n_ratings"]
    )
    with pytest.raises(StatsError, match="Krippendorff"):
        fleiss_kappa_from_ratings(missing.labels)


def test_mos_alpha_ordinal_and_interval(fixtures):
    ref = json.loads((fixtures / "mos_ref.json").read_text())
    matrix = read_mos(fixtures / "mos_ratings.csv").matrix
    assert krippendorff_alpha(matrix, "ordinal") == pytest.approx(
        ref["krippendorff_alpha_ordinal"], abs=1e-12
    )
    assert krippendorff_alpha(matrix, "interval") == pytest.approx(
        ref["krippendorff_alpha_interval"], abs=1e-12
    )


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_kappa_agrees_with_statsmodels_on_random_tables(seed):
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

    rng = np.random.default_rng(seed)
    n_items, n_raters, n_cat = rng.integers(5, 60), rng.integers(2, 7), rng.integers(2, 6)
    truth = rng.integers(0, n_cat, n_items)
    codes = np.where(
        rng.random((n_items, n_raters)) < 0.5,
        truth[:, None],
        rng.integers(0, n_cat, (n_items, n_raters)),
    )
    expected = sm_fleiss_kappa(aggregate_raters(codes, n_cat=n_cat)[0], method="fleiss")
    assert fleiss_kappa(aggregate_raters(codes, n_cat=n_cat)[0]) == pytest.approx(
        expected, abs=1e-12
    )
    labels = [[f"c{v}" for v in row] for row in codes]
    assert fleiss_kappa_from_ratings(labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_alpha_agrees_with_coincidence_matrix_on_random_data(seed, level):
    rng = np.random.default_rng(100 + seed)
    n_items, n_raters = rng.integers(10, 40), rng.integers(2, 6)
    truth = rng.integers(1, 6, n_items)
    scores = np.clip(truth[:, None] + rng.integers(-1, 2, (n_items, n_raters)), 1, 5).astype(float)
    scores[rng.random(scores.shape) < 0.25] = np.nan
    labels = [[None if np.isnan(v) else float(v) for v in row] for row in scores]
    assert krippendorff_alpha(labels, level) == pytest.approx(
        alpha_by_coincidences(scores, level), abs=1e-12
    )


def test_ordinal_level_uses_the_category_order():
    ratings = [
        ["bad", "ok"],
        ["ok", "good"],
        ["ok", "good"],
        ["bad", "bad"],
        ["good", "good"],
        ["ok", "ok"],
        ["bad", "ok"],
    ]
    order = ["bad", "ok", "good"]
    codes, seen = encode_ratings(ratings, categories=order)
    assert seen == order
    assert krippendorff_alpha(ratings, "ordinal", categories=order) == pytest.approx(
        alpha_by_coincidences(codes, "ordinal"), abs=1e-12
    )
    # Alphabetical order (bad, good, ok) would put "ok" at the top: a different number.
    assert krippendorff_alpha(ratings, "ordinal") != pytest.approx(
        krippendorff_alpha(ratings, "ordinal", categories=order)
    )


def test_perfect_agreement_is_one(agreement_ref):
    ratings = [["left", "left", "left"], ["right", "right", "right"], ["tie", "tie", "tie"]]
    assert (
        fleiss_kappa_from_ratings(ratings)
        == agreement_ref["edge_cases"]["perfect_agreement_fleiss_kappa"]
    )
    assert (
        krippendorff_alpha(ratings)
        == agreement_ref["edge_cases"]["perfect_agreement_krippendorff_alpha"]
    )


def test_degenerate_inputs_raise_instead_of_nan():
    one_category = [["left", "left"], ["left", "left"]]
    with pytest.raises(DegenerateDataError):
        fleiss_kappa_from_ratings(one_category)
    with pytest.raises(DegenerateDataError):
        krippendorff_alpha(one_category)
    one_rater = [["left"], ["right"], ["tie"]]
    with pytest.raises(DegenerateDataError):
        fleiss_kappa_from_ratings(one_rater)
    with pytest.raises(DegenerateDataError):
        krippendorff_alpha(one_rater)
    with pytest.raises(DegenerateDataError):
        krippendorff_alpha([["left", None], [None, "right"]])
    with pytest.raises(StatsError):
        krippendorff_alpha([["left", "right"]], level="cardinal")


def test_leave_one_out_agreement_by_hand():
    items = ["i1", "i1", "i1", "i2", "i2", "i2", "i3", "i3"]
    raters = ["a", "b", "c", "a", "b", "c", "a", "b"]
    labels = ["left", "left", "right", "tie", "tie", "tie", "left", "right"]
    loo = leave_one_out_agreement(items, raters, labels)
    # i1: a and b see {left, right} among the others -> no plurality; c sees left,left -> disagrees.
    # i2: everyone agrees. i3: a sees right, b sees left -> both disagree.
    assert loo["a"] == (0.5, 2) and loo["b"] == (0.5, 2) and loo["c"] == (0.5, 2)


def test_quality_and_exclusion_rule():
    items, raters, labels, times = [], [], [], []
    rng = np.random.default_rng(0)
    for k in range(30):
        truth = "left" if k % 2 else "right"
        for rater in ("good1", "good2", "good3", "spammer"):
            label = truth if rater != "spammer" else ("left" if rng.random() < 0.5 else "right")
            items.append(f"i{k}")
            raters.append(rater)
            labels.append(label)
            times.append(0.4 if rater == "spammer" else 3.0 + k % 3)
    gold = {"i0": "right", "i1": "left", "i2": "right", "i3": "left", "i4": "right"}
    quality = annotator_quality(items, raters, labels, gold=gold, response_s=times)
    assert quality["good1"].loo_agreement == 1.0 and quality["good1"].attention_accuracy == 1.0
    assert quality["good1"].n_attention == 5 and quality["good1"].median_response_s == 4.0
    result = exclude_annotators(
        quality,
        ExclusionRule(min_loo_agreement=0.7, min_attention_accuracy=0.8, min_median_response_s=1.0),
    )
    assert set(result.excluded) == {"spammer"}
    assert any("median response time" in r for r in result.excluded["spammer"])
    lenient = exclude_annotators(quality, ExclusionRule(None, None, None))
    assert lenient.excluded == {} and lenient.to_dict()["rule"]["min_loo_agreement"] is None


def test_leave_one_out_agreement_matches_the_definition_on_random_votes():
    """Plurality of the *other* raters' labels per item (ties skipped), checked by brute force."""
    from collections import Counter

    rng = np.random.default_rng(12)
    items = [int(i) for i in rng.integers(0, 60, size=600)]
    raters = [f"r{int(r)}" for r in rng.integers(0, 15, size=600)]
    labels = [str(x) for x in rng.choice(["left", "right", "tie"], size=600, p=[0.45, 0.45, 0.1])]
    expected_hits, expected_n = Counter(), Counter()
    for k in range(600):
        others = Counter(labels[j] for j in range(600) if j != k and items[j] == items[k])
        ranked = others.most_common()
        if not ranked or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
            continue
        expected_n[raters[k]] += 1
        expected_hits[raters[k]] += labels[k] == ranked[0][0]
    result = leave_one_out_agreement(items, raters, labels)
    for rater, (share, n) in result.items():
        assert n == expected_n[rater]
        assert share == (expected_hits[rater] / n if n else None)
