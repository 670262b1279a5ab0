"""Aspects: several questions asked about every task of a study (pairwise and rating).

Each aspect's answer is its own vote row carrying the aspect's key (Vote.aspect); a
single-question study's votes carry None. Everything that needs one answer per task (the active
pair policy's tallies, the clean side of attention checks, repeats) reads the first aspect's;
the leaderboard computes every statistic per aspect (app/leaderboard/board.py: board_aspect).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from app.errors import InvalidInput
from app.models import Study, Vote


def primary_aspect(study: Study) -> str | None:
    """The aspect that stands for the task where one answer per task is needed: the first."""
    keys = study.aspect_keys
    return keys[0] if keys else None


def primary_votes(study: Study) -> ColumnElement[bool]:
    """WHERE clause: one vote per answered task (the first aspect's, or the only one)."""
    first = primary_aspect(study)
    return Vote.aspect.is_(None) if first is None else Vote.aspect == first


def split_answers(study: Study, answers: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """An aspect study's answer, one (key, value) per aspect in the study's order.

    InvalidInput (422) names the aspects missing or unknown: every aspect must be answered."""
    keys = study.aspect_keys
    answers = answers or {}
    unknown = sorted(set(answers) - set(keys))
    if unknown:
        raise InvalidInput(f"unknown aspects {unknown}; this study's aspects are {keys}")
    missing = [key for key in keys if answers.get(key) in (None, "")]
    if missing:
        questions = {a["key"]: a["question"] for a in study.aspects or []}
        named = "; ".join(f"{key} ({questions[key]})" for key in missing)
        raise InvalidInput(f"answer every question of this task: missing {named}")
    return [(key, answers[key]) for key in keys]
