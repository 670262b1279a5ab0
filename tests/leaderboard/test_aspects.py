"""Aspects on the leaderboard: seeded simulations with a known, different truth per aspect. Each
aspect's board is computed from that aspect's votes alone and recovers its own truth; the
side-by-side table holds every aspect's ratings."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from app.errors import InvalidInput
from app.leaderboard.board import LeaderboardOptions, build_leaderboard
from app.models import utcnow
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_simulated_annotator
from app.services.studies.votes import submit_vote
from tests.support.humaneval import ASPECTS, TRUTH, seed_study, simulate_aspects


def _options(aspect=None):
    return LeaderboardOptions(rounds=200, seed=0, aspect=aspect)


@pytest.mark.parametrize("aspect", ["prompt", "realism"])
def test_each_aspects_bradley_terry_ratings_recover_that_aspects_truth(session, aspect):
    study = simulate_aspects(session, "pairwise")
    board = build_leaderboard(session, study, _options(aspect))
    assert board.options["aspect"] == aspect
    names = [g.name for g in study.generators]
    truth = dict(zip(names, TRUTH[aspect], strict=True))
    # Ranking: best true quality first.
    assert board.generators == sorted(names, key=lambda n: -truth[n])
    # Every vote of the board is this aspect's: one per task.
    assert board.human.n_votes_used == 3 * 24 * 6
    # The truth on the board's scale (Elo points, mean 1000) inside the 95% interval.
    inside = 0
    for row in board.rows:
        expected = 1000 + 400 / math.log(10) * truth[row["generator"]]
        human = row["human"]
        inside += human["bt_ci_low"] <= expected <= human["bt_ci_high"]
    assert inside >= 2
    # The side-by-side table: every aspect, the shown one identical to the board's ratings.
    table = {a["key"]: a for a in board.aspects}
    assert list(table) == ["prompt", "realism"]
    for row in board.rows:
        assert table[aspect]["generators"][row["generator"]]["bt"] == row["human"]["bt"]
    best = {
        key: max(a["generators"], key=lambda n: a["generators"][n]["bt"])
        for key, a in table.items()
    }
    assert best == {"prompt": names[0], "realism": names[2]}


def test_each_aspects_mos_recovers_that_aspects_order(session):
    study = simulate_aspects(session, "rating", prompts=30, raters=4)
    names = [g.name for g in study.generators]
    for aspect in ("prompt", "realism"):
        board = build_leaderboard(session, study, _options(aspect))
        truth = dict(zip(names, TRUTH[aspect], strict=True))
        assert board.generators == sorted(names, key=lambda n: -truth[n])
        for row in board.rows:
            human = row["human"]
            assert human["mos_ci_low"] <= human["mos"] <= human["mos_ci_high"]
        assert board.human.agreement is not None
    default = build_leaderboard(session, study, _options())
    assert default.options["aspect"] == "prompt"
    assert [a["key"] for a in default.aspects] == ["prompt", "realism"]


def test_an_unknown_aspect_is_refused(session):
    study = seed_study(session, "pairwise", generators=2, prompts=1, aspects=ASPECTS)
    with pytest.raises(InvalidInput, match="unknown aspect"):
        build_leaderboard(session, study, _options("colour"))


def test_attention_checks_are_scored_on_each_aspect_in_its_own_board(session):
    """A rater who passes every degraded-copy check on the first aspect and picks the degraded
    copy on the second is excluded from the second aspect's board only."""
    study = seed_study(
        session,
        "pairwise",
        generators=3,
        prompts=10,
        raters_per_item=3,
        aspects=ASPECTS,
        attention_check_rate=0.5,
    )
    rng = np.random.default_rng(1)
    clock = utcnow()
    raters = [create_simulated_annotator(session, study) for _ in range(3)]
    for annotator in raters:
        while (task := next_assignment(session, annotator, now=clock, rng=rng)) is not None:
            clock += timedelta(seconds=3)
            if task.check_kind == "degraded":
                clean = task.expected_choice
                wrong = "right" if clean == "left" else "left"
                last = annotator is raters[-1]
                answers = {"prompt": clean, "realism": wrong if last else clean}
            else:
                # Everyone prefers the generator registered first, on both aspects (so repeats
                # are consistent and the raters agree).
                first = task.generator_left_id < task.generator_right_id
                answers = dict.fromkeys(("prompt", "realism"), "left" if first else "right")
            submit_vote(session, annotator, task.public_id, aspects=answers, now=clock)
    session.flush()
    careless = raters[-1].handle
    verdicts = {}
    for aspect in ("prompt", "realism"):
        board = build_leaderboard(session, study, _options(aspect))
        people = {p["handle"]: p for p in board.human.annotators}
        assert people[careless]["n_attention"] >= 5
        verdicts[aspect] = people[careless]["excluded"]
    assert verdicts == {"prompt": False, "realism": True}
