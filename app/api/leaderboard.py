"""JSON API of the leaderboard and the exports.

GET /api/studies/{id}/leaderboard            the leaderboard as JSON (the page's numbers)
GET /api/studies/{id}/export?what=&format=   votes (csv|jsonl), leaderboard (csv|json), metrics (csv|json)
GET /api/reference-sets/{id}/statistics.npz  Inception mu/sigma (+ features) of a reference set

Like every /api route these need an admin key (Bearer). Readers without one use the pages under
/studies/{public_id}/leaderboard (a public study's, once it is closed). {id} is the numeric id,
the public id or the name.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import AdminDep
from app.db import SessionDep
from app.leaderboard.board import Leaderboard, LeaderboardOptions
from app.leaderboard.cache import LeaderboardCache
from app.leaderboard.schema import LeaderboardOut
from app.models import Study
from app.reports.exports import export_study, reference_statistics, to_json
from app.services.jobs import enqueue_leaderboard_recomputation
from app.services.public_results import public_leaderboard
from app.services.reference_sets import get_reference_set
from app.services.studies import get_study

router = APIRouter(tags=["leaderboard"])

Exclusions = Literal["on", "off"]


def leaderboard_cache(request: Request) -> LeaderboardCache:
    state = request.app.state
    if getattr(state, "leaderboard_cache", None) is None:
        # Views never wait for a recomputation once a leaderboard exists: a worker does it
        # (the deduplicated recompute_leaderboard job) and the views read its snapshot.
        state.leaderboard_cache = LeaderboardCache(
            session_factory=state.session_factory,
            invalidations=getattr(state, "invalidations", None),
            request_recomputation=enqueue_leaderboard_recomputation,
        )
    return state.leaderboard_cache


def options_from(exclusions: str, reference_set: str | None) -> LeaderboardOptions:
    return LeaderboardOptions(
        apply_exclusions=exclusions != "off", reference_set=reference_set or None
    )


def cached_leaderboard(
    request: Request, session, study: Study, options: LeaderboardOptions
) -> Leaderboard:
    return leaderboard_cache(request).get(session, study, options)


ExclusionsQuery = Annotated[
    Exclusions,
    Query(description="apply the annotator exclusions (on) or count everyone (off)"),
]
ReferenceQuery = Annotated[
    str | None,
    Query(description="reference set id or name (default: the one with the most results)"),
]


@router.get("/api/studies/{ref}/leaderboard", response_model=LeaderboardOut)
def leaderboard_json(
    ref: str,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    exclusions: ExclusionsQuery = "on",
    reference_set: ReferenceQuery = None,
) -> Response:
    """Human ratings, automatic metrics, agreement and correlations of one study."""
    study = get_study(session, ref)
    lb = cached_leaderboard(request, session, study, options_from(exclusions, reference_set))
    return Response(to_json(lb.to_dict()), media_type="application/json")


@router.get("/api/studies/{ref}/export")
def export(
    ref: str,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    what: Annotated[
        Literal["votes", "leaderboard", "metrics"], Query(description="what to export")
    ],
    format: Annotated[
        Literal["csv", "json", "jsonl"],
        Query(description="votes: csv or jsonl; leaderboard and metrics: csv or json"),
    ] = "csv",
    exclusions: ExclusionsQuery = "on",
    reference_set: ReferenceQuery = None,
) -> Response:
    """Download votes (Chatbot Arena battle layout), the leaderboard or the metric results."""
    study = get_study(session, ref)
    return export_response(request, session, study, what, format, exclusions, reference_set)


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
) -> Response:
    """An export as a download; `public`: as a reader without a sign-in may see it."""
    lb = None
    if what == "leaderboard":
        lb = cached_leaderboard(request, session, study, options_from(exclusions, reference_set))
        if public:
            lb = public_leaderboard(lb)
    out = export_study(session, study, what, format, lb, exclusions=exclusions != "off")
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )


@router.get("/api/reference-sets/{ref}/statistics.npz")
def statistics_npz(ref: str, request: Request, session: SessionDep, _: AdminDep) -> Response:
    """Inception pool3 statistics of a reference set in the pytorch-fid / clean-fid .npz layout
    (mu, sigma; plus features, extractor and n)."""
    reference = get_reference_set(session, ref)
    out = reference_statistics(session, request.app.state.settings.features_path, reference)
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )
