"""Beyond one snapshot of one rating: controlled Bradley-Terry, per-category boards, the ratings
as votes arrived and the votes still needed to separate neighbours on the board.

Works on the leaderboard's vote log (app.leaderboard.human.VoteLog) and the rows its
Bradley-Terry fit used: the same votes, after the same exclusions, in the same time order, so
every number here sits next to the plain rating it qualifies. `human_depth` is the one entry the
leaderboard calls; it reads per-image covariates and prompt categories from the database.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.leaderboard.covariates import BACKFILL_COMMAND, COVARIATES, image_covariates
from app.leaderboard.human import HumanSummary, VoteLog
from app.models import Assignment, Prompt, Vote
from app.models.enums import StudyKind
from app.stats import battles_from_records, bootstrap_bradley_terry, bradley_terry
from app.stats.battles import Battles
from app.stats.controlled_bradley_terry import (
    SIDE,
    controlled_bradley_terry,
    normalized_difference,
    standardize,
)
from app.stats.elo import ELO_BASE, ELO_SCALE
from app.stats.exceptions import StatsError
from app.stats.trajectory import rating_trajectory
from app.stats.votes_needed import RANGE_QUANTILES, adjacent_votes_needed

# Controlled fits bootstrap vote by vote (a Newton solve per round): at most this many rounds.
CONTROLLED_ROUNDS = 200
CONTROLLED_METHOD = (
    "Bradley-Terry with covariates (the covariate form of LMArena's style control): "
    "P(left wins) = sigmoid(ln(10)/400 (R_left - R_right) + gamma + beta . z), z = standardised "
    "(x_left - x_right) / (x_left + x_right) per chosen covariate; percentile bootstrap over votes"
)


def rating_rows(log: VoteLog, human: HumanSummary) -> list[int]:
    """Indices of the votes the leaderboard's Bradley-Terry fit used (see leaderboard_human)."""
    dropped = (
        {e["handle"] for e in human.agreement.get("excluded", [])}
        if human.exclusions_applied
        else set()
    )
    return [
        k
        for k in range(len(log))
        if log.check_kind[k] is None
        and log.annotator[k] not in dropped
        and log.winner[k] is not None
        and log.left[k]
        and log.right[k]
    ]


def battles_of(log: VoteLog, rows: list[int]) -> Battles:
    """The rows as battles, generators in order of first appearance (as `arena ratings` reads
    a votes export)."""
    return battles_from_records(
        [log.left[k] for k in rows], [log.right[k] for k in rows], [log.winner[k] for k in rows]
    )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def covariate_matrix(
    log: VoteLog,
    rows: list[int],
    control: tuple[str, ...],
    values: dict[int, dict[str, float | None]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per vote, standardised normalized differences (left minus right) of each covariate, and
    the standard deviations they were divided by. Raises StatsError naming what is missing."""
    z = np.zeros((len(rows), len(control)))
    for c, name in enumerate(control):
        left = [values.get(log.left_image[k], {}).get(name) for k in rows]
        right = [values.get(log.right_image[k], {}).get(name) for k in rows]
        absent = sum(v is None for v in left) + sum(v is None for v in right)
        if absent:
            raise StatsError(
                f"{absent} image(s) shown in these votes have no {name} measured; "
                f"run `{BACKFILL_COMMAND}`"
            )
        z[:, c] = normalized_difference(left, right)
    if not control:
        return z, np.zeros(0)
    return standardize(z)


def controlled_section(
    log: VoteLog,
    rows: list[int],
    control: tuple[str, ...],
    values: dict[int, dict[str, float | None]],
    *,
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """Ratings controlled for the side shown and the chosen covariates, with bootstrap CIs."""
    out: dict[str, Any] = {
        "available": False,
        "reason": None,
        "covariates": list(control),
        "available_covariates": dict(COVARIATES),
        "method": CONTROLLED_METHOD,
        "rounds": rounds,
        "seed": seed,
        "level": 0.95,
        "n_votes": len(rows),
        "ratings": {},
        "coefficients": {},
    }
    if not rows:
        out["reason"] = "no pairwise votes yet"
        return out
    battles = battles_of(log, rows)
    try:
        z, scales = covariate_matrix(log, rows, control, values)
        result = controlled_bradley_terry(battles, z, list(control), rounds=rounds, seed=seed)
    except StatsError as exc:
        out["reason"] = str(exc)
        return out
    low, high = result.rating_intervals
    c_low, c_high = result.coefficient_intervals
    out["available"] = True
    out["converged"] = result.fit.converged
    out["ratings"] = {
        name: {"rating": float(r), "ci_low": _finite(lo), "ci_high": _finite(hi)}
        for name, r, lo, hi in zip(result.generators, result.fit.ratings, low, high)
    }
    elo_per_logit = ELO_SCALE / math.log(ELO_BASE)
    sd = dict(zip(control, scales.tolist()))
    for name, value, lo, hi in zip(
        result.fit.coefficient_names, result.fit.coefficients, c_low, c_high
    ):
        out["coefficients"][name] = {
            "log_odds": float(value),
            "ci_low": float(lo),
            "ci_high": float(hi),
            "odds_ratio": math.exp(float(value)),
            # The same effect as a rating difference between the two images' generators.
            "elo_equivalent": float(value) * elo_per_logit,
            "per": "left side shown"
            if name == SIDE
            else f"one standard deviation ({sd[name]:.4g}) of the normalized {name} difference",
            "significant": bool(lo > 0 or hi < 0),
        }
    return out


def merge_controlled(per_generator: dict[str, dict[str, Any]], controlled: dict[str, Any]) -> None:
    """Put each generator's controlled rating beside its plain one (bt_controlled*)."""
    for name, cell in controlled.get("ratings", {}).items():
        row = per_generator.setdefault(name, {})
        row["bt_controlled"] = cell["rating"]
        row["bt_controlled_ci_low"] = cell["ci_low"]
        row["bt_controlled_ci_high"] = cell["ci_high"]


def category_section(
    log: VoteLog, rows: list[int], categories: dict[int, str | None], *, rounds: int, seed: int
) -> dict[str, Any]:
    """Per prompt category: Bradley-Terry with bootstrap CIs on that category's votes alone
    (exactly what `arena ratings --rounds R --seed S` gives on the category's rows of the votes
    export), the votes behind each cell, and the leader where its interval separates it."""
    by_category: dict[str, list[int]] = {}
    for k in rows:
        label = categories.get(log.vote_id[k])
        if label:
            by_category.setdefault(label, []).append(k)
    boards = []
    for category in sorted(by_category):
        subset = by_category[category]
        battles = battles_of(log, subset)
        result = bootstrap_bradley_terry(battles, rounds=rounds, seed=seed)
        votes = np.bincount(battles.a, minlength=battles.n_generators) + np.bincount(
            battles.b, minlength=battles.n_generators
        )
        leader = None
        for g in range(battles.n_generators):
            others = [h for h in range(battles.n_generators) if h != g]
            if others and all(result.beats[g, h] for h in others):
                leader = battles.generators[g]
                break
        boards.append(
            {
                "category": category,
                "n_votes": len(subset),
                "leader": leader,
                "cells": {
                    name: {
                        "rating": float(result.ratings[g]),
                        "ci_low": _finite(result.ci_low[g]),
                        "ci_high": _finite(result.ci_high[g]),
                        "votes": int(votes[g]),
                        "rank": int(result.rank[g]),
                    }
                    for g, name in enumerate(battles.generators)
                },
                "warnings": list(result.warnings),
            }
        )
    return {
        "boards": boards,
        "rounds": rounds,
        "seed": seed,
        "level": 0.95,
        "n_votes_without_category": sum(1 for k in rows if not categories.get(log.vote_id[k])),
        "leader_rule": "marked only where the bootstrap says it beats every other generator of "
        "the category at 95% (pairwise significance of the rating differences)",
    }


TRAJECTORY_ROUNDS = 200
ANCHOR_VALUE = 1000.0
VOTES_NEEDED_METHOD = (
    "normal approximation of a 95% Wald separation; the gap's uncertainty carried through an "
    "empirical-Bayes normal prior on the ratings; the median over the gap's posterior, range "
    f"{RANGE_QUANTILES[0]:.0%}-{RANGE_QUANTILES[1]:.0%} (app/stats/votes_needed.py)"
)


def trajectory_section(
    log: VoteLog, rows: list[int], *, anchor: str | None, rounds: int, seed: int
) -> dict[str, Any]:
    """Bradley-Terry with bootstrap CIs after the first n votes, at ten checkpoints."""
    if not rows:
        return {"available": False, "reason": "no pairwise votes yet"}
    battles = battles_of(log, rows)
    if anchor is not None and anchor not in battles.generators:
        return {"available": False, "reason": f"the anchor {anchor} has no votes yet"}
    path = rating_trajectory(
        battles,
        rounds=rounds,
        seed=seed,
        anchor=None if anchor is None else (anchor, ANCHOR_VALUE),
    )
    data = path.to_dict()
    for cell in data["generators"].values():
        for key in ("ci_low", "ci_high"):
            cell[key] = [_finite(v) for v in cell[key]]
    return {"available": True, "level": 0.95, **data}


def votes_needed_section(log: VoteLog, rows: list[int]) -> dict[str, Any]:
    """For each pair of neighbours on the board: further votes to separate them at 95%."""
    out: dict[str, Any] = {"method": VOTES_NEEDED_METHOD, "pairs": []}
    if not rows:
        return out
    battles = battles_of(log, rows)
    fit = bradley_terry(battles).fit
    out["pairs"] = [e.to_dict() for e in adjacent_votes_needed(fit, battles.generators)]
    return out


def vote_categories(session: Session, study_id: int) -> dict[int, str | None]:
    """Prompt category per vote id of the study."""
    return dict(
        session.execute(
            select(Vote.id, Prompt.category)
            .join(Assignment, Assignment.id == Vote.assignment_id)
            .outerjoin(Prompt, Prompt.id == Assignment.prompt_id)
            .where(Vote.study_id == study_id)
        ).all()
    )


def human_depth(
    session: Session,
    study_id: int,
    log: VoteLog,
    human: HumanSummary,
    *,
    control: tuple[str, ...] = (),
    anchor: str | None = None,
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """Controlled ratings, category boards, the trajectory and the votes still needed of a
    pairwise study (empty for other kinds)."""
    if log.kind != StudyKind.pairwise:
        return {}
    rows = rating_rows(log, human)
    values = (
        image_covariates(
            session, {log.left_image[k] for k in rows} | {log.right_image[k] for k in rows}
        )
        if control
        else {}
    )
    controlled = controlled_section(
        log, rows, control, values, rounds=min(rounds, CONTROLLED_ROUNDS), seed=seed
    )
    merge_controlled(human.per_generator, controlled)
    categories = category_section(
        log, rows, vote_categories(session, study_id), rounds=rounds, seed=seed
    )
    for board in categories["boards"]:
        for name, cell in board["cells"].items():
            human.per_generator.setdefault(name, {}).setdefault("categories", {})[
                board["category"]
            ] = cell
    return {
        "controlled": controlled,
        "categories": categories,
        "trajectory": trajectory_section(
            log, rows, anchor=anchor, rounds=min(rounds, TRAJECTORY_ROUNDS), seed=seed
        ),
        "votes_needed": votes_needed_section(log, rows),
    }
