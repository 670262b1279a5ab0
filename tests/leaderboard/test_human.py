"""The human side of the leaderboard on synthetic vote logs (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from app.leaderboard.human import AnnotatorInfo, VoteLog, summarise_votes
from app.stats import battles_from_records, bootstrap_bradley_terry, mean_opinion_scores

STRENGTH = {"alpha": 1.2, "beta": 0.4, "gamma": 0.0, "delta": -0.8}


def _append(log: VoteLog, **values) -> None:
    defaults = {
        "check_kind": None,
        "expected": None,
        "repeat_of": None,
        "choice": None,
        "winner": None,
        "left": None,
        "right": None,
        "left_image": None,
        "right_image": None,
        "generator": None,
        "image": None,
        "rating": None,
        "flags": None,
        "server_ms": 4000,
    }
    defaults.update(values)
    log.vote_id.append(len(log.vote_id) + 1)
    log.assignment.append(len(log.assignment) + 1)
    for name, value in defaults.items():
        if name in ("vote_id", "assignment"):
            continue
        getattr(log, name).append(value)


def pairwise_log(seed: int = 0, n_items: int = 120) -> tuple[VoteLog, dict[str, AnnotatorInfo]]:
    """Three careful annotators voting by strength, and one who always says 'left' and fails checks."""
    rng = np.random.default_rng(seed)
    names = list(STRENGTH)
    log = VoteLog(kind="pairwise")
    raters = ["r1", "r2", "r3", "lazy"]
    for item in range(n_items):
        a, b = rng.choice(len(names), size=2, replace=False)
        images = (1000 + 2 * item, 1001 + 2 * item)
        p = 1 / (1 + np.exp(-(STRENGTH[names[a]] - STRENGTH[names[b]])))
        for rater in raters:
            # Sides are randomised per assignment, as the server does.
            left, right, li, ri = (
                (a, b, *images) if rng.random() < 0.5 else (b, a, images[1], images[0])
            )
            if rater == "lazy":
                choice = "left"
            else:
                a_wins = rng.random() < p
                winner_index = a if a_wins else b
                choice = "left" if winner_index == left else "right"
            _append(
                log,
                annotator=rater,
                choice=choice,
                winner="model_a" if choice == "left" else "model_b",
                left=names[left],
                right=names[right],
                left_image=li,
                right_image=ri,
                server_ms=300 if rater == "lazy" else 4000,
            )
    for rater in raters:
        for _ in range(5):
            # Degraded check: the real image is on the right, so 'right' is expected.
            _append(
                log,
                annotator=rater,
                check_kind="degraded",
                expected="right",
                choice="left" if rater == "lazy" else "right",
                winner=None,
                left=None,
                right=names[0],
                left_image=None,
                right_image=1,
            )
    return log, {r: AnnotatorInfo(r, is_simulated=True) for r in raters}


def test_ratings_leave_out_checks_and_excluded_annotators():
    log, people = pairwise_log()
    summary = summarise_votes(log, list(STRENGTH), people, rounds=200, seed=3)
    assert [e["handle"] for e in summary.agreement["excluded"]] == ["lazy"]
    reasons = " ".join(summary.agreement["excluded"][0]["reasons"])
    assert "attention-check accuracy 0/5" in reasons and "median response time" in reasons
    assert summary.agreement["excluded"][0]["is_simulated"] is True
    # Exactly the careful raters' non-check votes, fed straight into the bootstrap, give the same numbers.
    keep = [k for k in range(len(log)) if log.annotator[k] != "lazy" and log.check_kind[k] is None]
    battles = battles_from_records(
        [log.left[k] for k in keep],
        [log.right[k] for k in keep],
        [log.winner[k] for k in keep],
    )
    boot = bootstrap_bradley_terry(battles, rounds=200, seed=3)
    for i, name in enumerate(battles.generators):
        row = summary.per_generator[name]
        assert row["bt"] == pytest.approx(boot.ratings[i], abs=1e-9)
        assert row["bt_ci_low"] == pytest.approx(boot.ci_low[i], abs=1e-9)
    assert summary.n_votes_used == len(keep)
    assert summary.n_attention_votes == 20  # every check vote is left out of the ratings
    assert summary.n_excluded_votes == 120  # the lazy rater's other votes
    assert summary.agreement["attention_checks"]["accuracy"] == 1.0
    best = max(summary.human_score, key=summary.human_score.get)
    assert best == "alpha"
    assert summary.agreement["krippendorff_alpha"] is not None
    assert summary.agreement["raters_per_item"] == [3, 3]
    assert summary.agreement["n_raters"] == 3 and summary.agreement["percent_agreement"] > 0.5


def test_without_exclusions_everyone_counts_and_position_bias_shows():
    log, people = pairwise_log()
    summary = summarise_votes(log, list(STRENGTH), people, apply_exclusions=False, rounds=100)
    assert summary.exclusions_applied is False
    assert summary.agreement["exclusions_applied"] is False
    assert summary.n_votes_used == 480
    assert summary.agreement["attention_checks"]["accuracy"] == pytest.approx(15 / 20)
    # The lazy rater's all-left votes push the left share above one half, flagged.
    assert summary.agreement["position_bias"]["left_share"] > 0.55
    assert summary.agreement["position_bias"]["flagged"] is True
    # Still listed, marked as the rule would exclude them.
    lazy = next(a for a in summary.annotators if a["handle"] == "lazy")
    assert lazy["excluded"] is True and lazy["is_simulated"] is True


def test_manual_exclusion_is_applied_and_named():
    log, people = pairwise_log()
    people["r1"].override = "exclude"
    summary = summarise_votes(log, list(STRENGTH), people, rounds=50)
    excluded = {e["handle"]: e["reasons"] for e in summary.agreement["excluded"]}
    assert excluded["r1"] == ["excluded by an administrator"]
    assert all(log.annotator[k] != "r1" for k in range(len(log))) is False
    assert summary.n_votes_used == 240


def test_repeat_check_without_expected_answer_tests_consistency():
    log = VoteLog(kind="pairwise")
    _append(
        log,
        annotator="r",
        choice="left",
        winner="model_a",
        left="a",
        right="b",
        left_image=1,
        right_image=2,
    )
    # The repeat shows the same pair with sides swapped; choosing image 1 again is consistent.
    _append(
        log,
        annotator="r",
        check_kind="repeat",
        repeat_of=1,
        choice="right",
        winner="model_b",
        left="b",
        right="a",
        left_image=2,
        right_image=1,
    )
    _append(
        log,
        annotator="s",
        choice="left",
        winner="model_a",
        left="a",
        right="b",
        left_image=1,
        right_image=2,
    )
    _append(
        log,
        annotator="s",
        check_kind="repeat",
        repeat_of=3,
        choice="left",
        winner="model_a",
        left="b",
        right="a",
        left_image=2,
        right_image=1,
    )
    summary = summarise_votes(log, ["a", "b"], {}, apply_exclusions=False, rounds=20)
    checks = summary.agreement["attention_checks"]
    assert checks["n_repeat"] == 2 and checks["repeat_consistent"] == 1 and checks["n"] == 0
    assert summary.n_votes_used == 2


def test_rating_study_gives_mos_matching_the_stats_core():
    rng = np.random.default_rng(1)
    log = VoteLog(kind="rating")
    for image in range(40):
        gen = ["a", "b"][image % 2]
        for rater in ("x", "y", "z"):
            _append(
                log,
                annotator=rater,
                generator=gen,
                image=image,
                rating=int(np.clip(round(3 + (image % 2) + rng.normal(0, 0.7)), 1, 5)),
            )
    summary = summarise_votes(log, ["a", "b", "c"], {}, rounds=10)
    direct = mean_opinion_scores(log.generator, log.image, log.annotator, log.rating)
    assert summary.per_generator["a"]["mos"] == pytest.approx(direct.models["a"].mean)
    assert summary.per_generator["b"]["mos_ci_low"] == pytest.approx(direct.models["b"].ci_low)
    assert summary.per_generator["c"] == {"votes": 0}
    assert sum(summary.mos_scores["a"]) == sum(
        r for g, r in zip(log.generator, log.rating) if g == "a"
    )
    assert summary.agreement["krippendorff_level"] == "ordinal"


def test_flag_study_rates_with_wilson_intervals():
    log = VoteLog(kind="flag")
    for image in range(20):
        flags = ["anatomy"] if image < 5 else []
        _append(log, annotator="x", generator="a", image=image, flags=flags)
        _append(
            log,
            annotator="x",
            generator="b",
            image=100 + image,
            flags=["artifacts", "anatomy"] if image < 10 else [],
        )
    summary = summarise_votes(log, ["a", "b"], {}, flag_options=["anatomy", "artifacts"], rounds=10)
    a = summary.per_generator["a"]["flag_rates"]
    assert a["anatomy"]["rate"] == pytest.approx(0.25) and a["anatomy"]["n"] == 20
    assert a["artifacts"]["rate"] == 0.0 and a["any"]["count"] == 5
    assert a["anatomy"]["ci_low"] < 0.25 < a["anatomy"]["ci_high"]
    assert summary.human_score == {"a": 0.75, "b": 0.5}


def _degraded(log, rater, choice, *, reference):
    _append(
        log,
        annotator=rater,
        check_kind="degraded",
        expected="right",
        choice=choice,
        right="alpha" if not reference else None,
        left_image=7,
        right_image=7,
    )
    log.clean_reference.extend([False] * (len(log) - 1 - len(log.clean_reference)))
    log.clean_reference.append(reference)


def test_tie_or_both_bad_against_a_degraded_copy_fails_only_when_the_clean_side_is_real():
    from app.leaderboard.human import check_outcome

    log = VoteLog(kind="pairwise")
    for choice in ("right", "left", "tie", "both_bad"):
        _degraded(log, "r", choice, reference=False)
    for choice in ("right", "left", "tie", "both_bad"):
        _degraded(log, "r", choice, reference=True)
    outcomes = [check_outcome(log, k, {}) for k in range(len(log))]
    # A generated image can honestly look bad: inconclusive; a real photograph cannot.
    assert outcomes == [True, False, None, None, True, False, False, False]
    summary = summarise_votes(log, ["alpha"], {}, apply_exclusions=False, rounds=10)
    checks = summary.agreement["attention_checks"]
    assert (checks["correct"], checks["n"], checks["inconclusive"]) == (2, 6, 2)


def test_exclusion_needs_enough_checks_and_a_confident_shortfall():
    from app.stats import ExclusionRule

    log = VoteLog(kind="pairwise")
    # Four failed checks of five would exclude on a point estimate; the bound needs five checks.
    for choice in ("left", "left", "left", "left"):
        _degraded(log, "few", choice, reference=True)
    # One slip in six: accuracy 0.83, and even 4 of 6 (0.67) has an upper bound above 0.8.
    for choice in ("right", "right", "left", "right", "left", "right"):
        _degraded(log, "unlucky", choice, reference=True)
    for choice in ("left", "right", "left", "left", "tie", "left", "both_bad", "left"):
        _degraded(log, "careless", choice, reference=True)
    summary = summarise_votes(log, ["alpha"], {}, rule=ExclusionRule(), rounds=10)
    excluded = {e["handle"] for e in summary.agreement["excluded"]}
    assert excluded == {"careless"}
    careless = next(a for a in summary.annotators if a["handle"] == "careless")
    assert careless["attention_correct"] == 1 and careless["n_attention"] == 8
    assert careless["attention_upper"] < 0.8
