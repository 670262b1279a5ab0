"""A study with pair_policy=active hands out the pairs app.stats.active_sampling chooses.

Four generators with a clear order except for one near-tie: annotators side with the stronger
generator in 9 of 10 votes and split the near-tied pair evenly. A vote between generators
two steps apart (0-2, 0-3: the stronger wins ~99% of the time under the fitted model) carries
almost no information, so once the order has emerged the active study hands out the neighbouring
pairs, whose outcome is uncertain, while the uniform study keeps spending a third of its votes on
the foregone ones.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from app.models import Study
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.pair_policy import choose_pair, vote_tables
from app.services.studies.votes import submit_vote
from app.stats import active_sampling
from tests.support.humaneval import seed_study

STRENGTH = {0: 3, 1: 2, 2: 1, 3: 1}  # generator index -> rank; 2 and 3 are the near-tie
NEAR_TIE = (2, 3)
FOREGONE = {(0, 2), (0, 3)}
NEIGHBOURS = {(0, 1), (1, 2), NEAR_TIE}
VOTES = 90


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    active_sampling.clear_cache()
    yield
    active_sampling.clear_cache()


def _run_study(factory, policy: str) -> tuple[list[tuple[int, int]], object]:
    """Answer VOTES assignments of a fresh study; return the pairs handed out, in order."""
    with factory() as session:
        study = seed_study(
            session,
            generators=4,
            prompts=30,
            raters_per_item=2,
            pair_policy=policy,
            name=f"{policy}-study",
        )
        annotators = [a for a, _url in create_invites(session, study, 2, "http://test")]
        index = {g.id: k for k, g in enumerate(sorted(study.generators, key=lambda g: g.id))}
        rng = np.random.default_rng(7)
        seen: Counter = Counter()
        pairs = []
        for n in range(VOTES):
            annotator = annotators[n % 2]
            task = next_assignment(session, annotator, rng=rng)
            assert task is not None
            left, right = index[task.generator_left_id], index[task.generator_right_id]
            pair = (min(left, right), max(left, right))
            pairs.append(pair)
            k = seen[pair]
            seen[pair] += 1
            if STRENGTH[left] == STRENGTH[right]:
                choice = ("left", "right", "tie")[k % 3]
            else:
                upset = k % 10 == 1  # one upset in ten, from the second vote on
                choice = "left" if (STRENGTH[left] > STRENGTH[right]) != upset else "right"
            submit_vote(session, annotator, task.public_id, choice=choice)
            session.commit()
        return pairs, study.id


def _share(pairs, wanted) -> float:
    return sum(p in wanted for p in pairs) / len(pairs)


def test_active_study_hands_out_the_policys_pairs(factory):
    active_pairs, study_id = _run_study(factory, "active")
    uniform_pairs, _ = _run_study(factory, "uniform")
    late = VOTES // 2
    assert _share(active_pairs[late:], FOREGONE) <= 0.1, Counter(active_pairs[late:])
    # Uniform spends a third on them in expectation (45 votes: 0.15 is 2.6 sd below).
    assert _share(uniform_pairs[late:], FOREGONE) >= 0.15, Counter(uniform_pairs[late:])
    # The uncertain neighbours get well over the half uniform sampling gives them in expectation
    # (two noisy samples compared with each other would flip with the seed).
    assert _share(active_pairs[late:], NEIGHBOURS) >= 0.6, Counter(active_pairs[late:])
    # The guarantees still hold in the active study: every pair was shown.
    assert set(active_pairs) == {(i, j) for i in range(4) for j in range(i + 1, 4)}

    # The service's choice is exactly the statistics policy's choice on the study's tallies.
    with factory() as session:
        study = session.get(Study, study_id)
        wins, ties = vote_tables(session, study)
        assert wins.sum() + ties.sum() / 2 == VOTES
        candidates = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
        for seed in range(5):
            active_sampling.clear_cache()
            expected = active_sampling.choose_pair(
                wins, ties, candidates, np.random.default_rng(seed)
            )
            active_sampling.clear_cache()
            assert choose_pair(session, study, candidates, np.random.default_rng(seed)) == expected
            assert expected not in FOREGONE


def test_tallies_follow_the_votes_incrementally(factory):
    """The policy's tallies equal a full count, and a refresh reads only votes above the newest
    already seen (less a window for late commits), not the whole study."""
    from sqlalchemy import event

    from app.services.studies.pair_policy import clear_tallies, tallies

    clear_tallies()
    with factory() as session:
        study = seed_study(session, generators=3, prompts=6, pair_policy="active")
        annotators = [a for a, _url in create_invites(session, study, 2, "http://test")]
        rng = np.random.default_rng(1)
        for n in range(10):
            task = next_assignment(session, annotators[n % 2], rng=rng)
            submit_vote(session, annotators[n % 2], task.public_id, choice=("left", "tie")[n % 2])
            session.commit()
            wins, ties = tallies(session, study)
            full_wins, full_ties = vote_tables(session, study)
            assert (wins == full_wins).all() and (ties == full_ties).all()
        seen = []
        engine = session.get_bind()
        listener = lambda *args: seen.append((args[2], args[3]))  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            tallies(session, study)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        ((statement, _params),) = seen
        assert "votes.id >" in statement
    clear_tallies()
