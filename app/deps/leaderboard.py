"""What one request resolves about a leaderboard, for the JSON API and the pages alike: the
reader options, the board from the process's LeaderboardCache (built once, in `create_app`),
and an export as a download.
"""

from __future__ import annotations

import dataclasses

from fastapi import Request, Response
from sqlalchemy.orm import Session

from app.leaderboard.board import Leaderboard, LeaderboardOptions, board_aspect
from app.leaderboard.cache import LeaderboardCache
from app.leaderboard.covariates import parse_covariates
from app.models import Study
from app.reports.exports import export_study
from app.services.public_results import public_leaderboard


def leaderboard_cache(request: Request) -> LeaderboardCache:
    """The process's leaderboard cache (app.state, built in create_app)."""
    return request.app.state.leaderboard_cache


def options_from(
    exclusions: str,
    reference_set: str | None,
    control: str | None = None,
    anchor: str | None = None,
    aspect: str | None = None,
) -> LeaderboardOptions:
    return LeaderboardOptions(
        apply_exclusions=exclusions != "off",
        reference_set=reference_set or None,
        control=parse_covariates(control),
        anchor=anchor or None,
        aspect=aspect or None,
    )


def cached_leaderboard(
    request: Request, session: Session, study: Study, options: LeaderboardOptions
) -> Leaderboard:
    # The aspect checked and named (no aspect: the first), so both spellings share one board.
    options = dataclasses.replace(options, aspect=board_aspect(study, options.aspect))
    return leaderboard_cache(request).get(session, study, options)


def export_response(
    request: Request,
    session,
    study: Study,
    what: str,
    format: str,
    exclusions: str,
    reference_set: str | None,
    *,
    public: bool = False,
    control: str | None = None,
    aspect: str | None = None,
) -> Response:
    """An export as a download; `public`: as a reader without a sign-in may see it."""
    lb = None
    if what == "leaderboard":
        options = options_from(exclusions, reference_set, control, aspect=aspect)
        lb = cached_leaderboard(request, session, study, options)
        if public:
            lb = public_leaderboard(lb)
    out = export_study(session, study, what, format, lb, exclusions=exclusions != "off")
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )
