"""Which generator pair an annotator judges next: the one place a sampling policy plugs in.

"uniform" picks uniformly among the pairs that still have an open item for this annotator.
"active" hands the study's vote tallies to app.stats.active_sampling, which picks the pair whose
outcome most reduces rating uncertainty.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Assignment, Study, Vote


def vote_tables(session: Session, study: Study) -> tuple[np.ndarray, np.ndarray]:
    """wins[i, j]: i beat j; ties[i, j] = ties[j, i] (both_bad counts as a tie). Checks left out.

    Indices follow the study's generators ordered by id.
    """
    index = {g.id: k for k, g in enumerate(sorted(study.generators, key=lambda g: g.id))}
    n = len(index)
    wins = np.zeros((n, n), dtype=np.int64)
    ties = np.zeros((n, n), dtype=np.int64)
    rows = session.execute(
        select(Assignment.generator_left_id, Assignment.generator_right_id, Vote.choice)
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(Assignment.study_id == study.id, Assignment.check_kind.is_(None))
    )
    for left, right, choice in rows:
        if left not in index or right not in index:
            continue
        i, j = index[left], index[right]
        if choice == "left":
            wins[i, j] += 1
        elif choice == "right":
            wins[j, i] += 1
        elif choice in ("tie", "both_bad"):
            ties[i, j] += 1
            ties[j, i] += 1
    return wins, ties


def choose_pair(
    session: Session,
    study: Study,
    candidates: list[tuple[int, int]],
    rng: np.random.Generator,
) -> tuple[int, int]:
    """One of `candidates` (generator index pairs with an open item for this annotator)."""
    if not candidates:
        raise ValueError("choose_pair needs at least one candidate pair")
    if study.pair_policy == "active":
        # Imported here: the numeric core is optional for uniform studies and loads numpy/scipy.
        from app.stats.active_sampling import choose_pair as active_choose_pair

        wins, ties = vote_tables(session, study)
        chosen = active_choose_pair(wins, ties, candidates, rng)
        return (int(chosen[0]), int(chosen[1]))
    return candidates[int(rng.integers(len(candidates)))]
