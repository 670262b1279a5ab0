"""The researcher's pages around the leaderboard: the home page and the compare page.

/                                 what this is and how to sign in; signed in: every study
/studies/{public_id}/compare      one prompt, every generator's images side by side (?prompt=N)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from app.db import SessionDep
from app.deps.researcher import ReaderDep
from app.services.overview import compare_view, study_summaries
from app.services.studies.study import get_study_by_public_id
from app.web.errors import RESEARCHER_PAGES
from app.web.templating import RESEARCHER_PAGE_HEADERS as PAGE_HEADERS
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


@router.get("/", name="home")
def home(request: Request, session: SessionDep, reader: ReaderDep) -> Response:
    signed_in = reader.signed_in
    context: dict[str, Any] = {"signed_in": signed_in, "studies": None}
    if signed_in:
        context["studies"] = study_summaries(session)
        context["csrf_token"] = reader.csrf_token
    return _render(request, "home.html", context)


@router.get(
    "/studies/{public_id}/compare", name="compare_page", dependencies=[Depends(RESEARCHER_PAGES)]
)
def compare(
    public_id: str,
    request: Request,
    session: SessionDep,
    reader: ReaderDep,
    prompt: int = Query(1, ge=1, le=1_000_000, description="1-based prompt number"),
) -> Response:
    """Researchers only: it names the generators and shows images a running study serves."""
    reader.ensure_researcher()
    study = get_study_by_public_id(session, public_id)
    view = compare_view(session, study, prompt - 1)
    return _render(
        request,
        "leaderboard/compare.html",
        {
            "study": study,
            "view": view,
            "signed_in": True,
            "csrf_token": reader.csrf_token,
        },
    )
