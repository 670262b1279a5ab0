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

from app.db import SessionDep
from app.deps.admin import AdminDep
from app.deps.leaderboard import cached_leaderboard, export_response, options_from
from app.leaderboard.covariates import COVARIATES
from app.leaderboard.schema import LeaderboardOut
from app.reports.exports import reference_statistics, to_json
from app.services.catalog.reference_sets import get_reference_set
from app.services.studies.study import get_study

router = APIRouter(tags=["leaderboard"])

Exclusions = Literal["on", "off"]


ExclusionsQuery = Annotated[
    Exclusions,
    Query(description="apply the annotator exclusions (on) or count everyone (off)"),
]
ReferenceQuery = Annotated[
    str | None,
    Query(description="reference set id or name (default: the one with the most results)"),
]
AspectQuery = Annotated[
    str | None,
    Query(
        description="a study with aspects: the aspect whose votes the figures use (default: "
        "the first)"
    ),
]
ControlQuery = Annotated[
    str | None,
    Query(
        description="image covariates the controlled Bradley-Terry ratings adjust for besides "
        f"the side shown, comma-separated: {', '.join(COVARIATES)}"
    ),
]


@router.get("/api/studies/{ref}/leaderboard", response_model=LeaderboardOut)
def leaderboard_json(
    ref: str,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    exclusions: ExclusionsQuery = "on",
    reference_set: ReferenceQuery = None,
    control: ControlQuery = None,
    anchor: Annotated[
        str | None,
        Query(description="a generator held at 1000 in the ratings-over-votes trajectory"),
    ] = None,
    aspect: AspectQuery = None,
) -> Response:
    """Human ratings, automatic metrics, agreement and correlations of one study (of one
    aspect, with every aspect's ratings side by side, in a study with aspects)."""
    study = get_study(session, ref)
    options = options_from(exclusions, reference_set, control, anchor, aspect)
    lb = cached_leaderboard(request, session, study, options)
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
    control: ControlQuery = None,
    aspect: AspectQuery = None,
) -> Response:
    """Download votes (Chatbot Arena battle layout; every aspect's, with an `aspect` column),
    the leaderboard (of one aspect) or the metric results."""
    study = get_study(session, ref)
    return export_response(
        request,
        session,
        study,
        what,
        format,
        exclusions,
        reference_set,
        control=control,
        aspect=aspect,
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
