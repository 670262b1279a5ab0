"""Who is excluded from a study's figures, and administrators' overrides of the rule.

The decision is made in one place, leaderboard_human.annotator_figures: the study's exclusion
rule (its own thresholds) proposes, an administrator's override ("exclude" or "reinstate")
disposes. /api/studies/{s}/annotators, `arena annotators`, the leaderboard and every export read
the status from here, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound
from app.leaderboard.board import exclusion_rule, load_vote_log
from app.leaderboard.human import ExclusionStatus, annotator_figures
from app.models import Annotator, Study, utcnow
from app.models.enums import ExclusionAction

ACTIONS = tuple(ExclusionAction)
Action = ExclusionAction


def exclusion_statuses(
    session: Session, study: Study, aspect: str | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, ExclusionStatus]]:
    """(quality figures, exclusion status) per annotator handle, as the leaderboard decides: in
    a study with aspects, from the answers to `aspect` (None: the first)."""
    log, annotators = load_vote_log(session, study, aspect)
    return annotator_figures(log, annotators, exclusion_rule(study))


def annotator_report(
    session: Session, study: Study, aspect: str | None = None
) -> list[dict[str, Any]]:
    """Every annotator of the study with their exclusion status, reasons and quality figures
    (in a study with aspects: on `aspect`, None: the first)."""
    figures, status = exclusion_statuses(session, study, aspect)
    rows = []
    for annotator in session.scalars(
        select(Annotator).where(Annotator.study_id == study.id).order_by(Annotator.id)
    ):
        state = status.get(annotator.handle)
        rows.append(
            {
                "handle": annotator.handle,
                "is_simulated": annotator.is_simulated,
                "consented_at": annotator.consented_at,
                "created_at": annotator.created_at,
                **(
                    state.to_dict()
                    if state
                    else ExclusionStatus(annotator.handle, False, (), (), None, None).to_dict()
                ),
                "override_at": annotator.exclusion_set_at,
                "figures": figures.get(annotator.handle, {"n_votes": 0}),
            }
        )
    return rows


def set_override(
    session: Session, study: Study, handle: str, action: str, note: str | None = None
) -> Annotator:
    """Exclude or reinstate an annotator whatever the rule says, or clear the override."""
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    annotator = session.scalar(
        select(Annotator).where(Annotator.study_id == study.id, Annotator.handle == handle)
    )
    if annotator is None:
        raise NotFound(
            f"no annotator {handle!r} in study {study.name!r}; list them with "
            f"GET /api/studies/{study.public_id}/annotators"
        )
    note = (note or "").strip() or None
    if note is not None and len(note) > 500:
        raise InvalidInput("note must be at most 500 characters")
    annotator.exclusion_override = None if action == ExclusionAction.clear else action
    annotator.exclusion_note = None if action == ExclusionAction.clear else note
    annotator.exclusion_set_at = utcnow()
    session.flush()
    return annotator
