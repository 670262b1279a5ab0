"""Separation in Bradley-Terry data: detected per generator, intervals shown as unbounded."""

from __future__ import annotations

import numpy as np

from app.leaderboard.human import VoteLog, summarise_votes
from app.stats import battles_from_records, bootstrap_bradley_terry
from app.stats.separation import DOWN, EITHER, FINITE, UP, separated_rounds, separation


def _battles(rng, n=95, upset=False):
    a, b, w = [], [], []
    for _ in range(n):
        a.append(str(rng.choice(["s1", "s2"])))
        b.append(str(rng.choice(["w1", "w2"])))
        w.append("model_a")
    if upset:
        w[5] = "model_b"
    for _ in range(30):
        for x, y in (("s1", "s2"), ("w1", "w2")):
            a.append(x)
            b.append(y)
            w.append(str(rng.choice(["model_a", "model_b"])))
    return a, b, w


def test_two_generators_that_never_lose_are_unbounded_above():
    boot = bootstrap_bradley_terry(
        battles_from_records(*_battles(np.random.default_rng(0))), rounds=300, seed=0
    )
    names = list(boot.generators)
    strong = [names.index("s1"), names.index("s2")]
    weak = [names.index("w1"), names.index("w2")]
    assert boot.separation.separated
    assert set(boot.separation.direction[strong]) == {UP}
    assert set(boot.separation.direction[weak]) == {DOWN}
    assert np.isinf(boot.ci_high[strong]).all() and np.isfinite(boot.ci_low[strong]).all()
    assert np.isinf(boot.ci_low[weak]).all() and np.isfinite(boot.ci_high[weak]).all()
    notes = boot.separation_notes()
    assert (
        "never lost a vote to w1, w2" in notes["s1"] or "never lost a vote to w2, w1" in notes["s1"]
    )
    assert "no finite upper bound" in notes["s1"] and "no finite lower bound" in notes["w1"]
    assert any("perfect separation" in w for w in boot.warnings)
    # The strong pair still ranks above the weak pair.
    assert set(boot.rank[strong]) == {1} and set(boot.rank[weak]) == {3}


def test_one_upset_is_no_separation_but_the_bootstrap_can_still_be_unbounded():
    boot = bootstrap_bradley_terry(
        battles_from_records(*_battles(np.random.default_rng(0), upset=True)), rounds=300, seed=0
    )
    assert not boot.separation.separated
    assert boot.separated_rounds > 0.025 * 300
    assert np.isinf(boot.ci_high).sum() == 2 and any("near separation" in w for w in boot.warnings)


def test_well_mixed_data_stay_finite():
    rng = np.random.default_rng(1)
    names = ["a", "b", "c", "d"]
    a, b, w = [], [], []
    for _ in range(400):
        x, y = rng.choice(4, size=2, replace=False)
        a.append(names[x])
        b.append(names[y])
        w.append("model_a" if rng.random() < 1 / (1 + np.exp(y - x)) else "model_b")
    boot = bootstrap_bradley_terry(battles_from_records(a, b, w), rounds=200, seed=0)
    assert not boot.separation.separated and boot.separated_rounds == 0
    assert np.isfinite(boot.ci_low).all() and np.isfinite(boot.ci_high).all()
    assert boot.separation_notes() == {}


def test_a_chain_of_groups_leaves_the_middle_unbounded_either_way():
    # 0 beats 1, 1 beats 2, always: 0 is a source, 2 a sink, 1 in between.
    i, j = np.array([0, 1]), np.array([1, 2])
    result = separation(3, i, j, np.array([5.0, 5.0]), np.array([5.0, 5.0]))
    assert list(result.direction) == [UP, EITHER, DOWN]
    # Anchored at the top: the top stays finite, the rest run downwards.
    anchored = separation(3, i, j, np.array([5.0, 5.0]), np.array([5.0, 5.0]), anchor_index=0)
    assert list(anchored.direction) == [FINITE, DOWN, DOWN]
    # The batched test agrees with the exact one on random small tables.
    for seed in range(100):
        rng = np.random.default_rng(seed)
        ii, jj = np.triu_indices(5, 1)
        votes = rng.integers(0, 3, size=(4, ii.size)).astype(float)
        score = rng.binomial(votes.astype(int), 0.8).astype(float)
        batched = separated_rounds(5, ii, jj, score, votes)
        for r in range(4):
            assert list(batched[r]) == list(separation(5, ii, jj, score[r], votes[r]).direction)


def test_the_leaderboard_says_so_per_generator():
    a, b, w = _battles(np.random.default_rng(0))
    log = VoteLog(kind="pairwise")
    for k, (x, y, win) in enumerate(zip(a, b, w, strict=True)):
        log.vote_id.append(k)
        log.assignment.append(k)
        log.annotator.append(f"r{k % 5}")
        for name, value in (
            ("check_kind", None),
            ("expected", None),
            ("repeat_of", None),
            ("choice", "left" if win == "model_a" else "right"),
            ("winner", win),
            ("left", x),
            ("right", y),
            ("left_image", 2 * k),
            ("right_image", 2 * k + 1),
            ("generator", None),
            ("image", None),
            ("rating", None),
            ("flags", None),
            ("server_ms", 3000),
        ):
            getattr(log, name).append(value)
    summary = summarise_votes(log, ["s1", "s2", "w1", "w2"], {}, rounds=200)
    s1, w1 = summary.per_generator["s1"], summary.per_generator["w1"]
    assert s1["bt_ci_unbounded"] == "high" and s1["bt_ci_high"] is None
    assert w1["bt_ci_unbounded"] == "low" and w1["bt_ci_low"] is None
    assert "never lost" in s1["separation"] and "never won" in w1["separation"]
    assert any("perfect separation" in w for w in summary.warnings)
