"""Admin JSON API: studies (CRUD, open/close), annotator invites and the votes export."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from app.db import SessionDep
from app.deps.admin import AdminDep
from app.deps.common import SettingsDep, StoreDep
from app.services.studies import study as service
from app.services.studies.exclusions import annotator_report, set_override
from app.services.studies.invites import create_invites
from app.services.studies.renditions import prepare_study
from app.services.studies.schemas import (
    AnnotatorOut,
    ExclusionRequest,
    InviteOut,
    InviteRequest,
    StudyCreate,
    StudyOut,
    StudyUpdate,
)
from app.services.studies.vote_export import export_votes

router = APIRouter(prefix="/api/studies", tags=["studies"])


def _out(session, study, settings) -> StudyOut:
    return StudyOut(
        **{
            field: getattr(study, field)
            for field in StudyOut.model_fields
            if field not in {"generators", "n_items", "study_url"}
        },
        generators=[g.name for g in study.generators],
        n_items=len(service.study_items(session, study)),
        study_url=f"{settings.base_url.rstrip('/')}/study/{study.public_id}",
    )


@router.post("", status_code=201, response_model=StudyOut)
def create_study(
    body: StudyCreate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> StudyOut:
    return _out(session, service.create_study(session, body), settings)


@router.get("", response_model=list[StudyOut])
def list_studies(session: SessionDep, settings: SettingsDep, _: AdminDep) -> list[StudyOut]:
    return [_out(session, s, settings) for s in service.list_studies(session)]


@router.get("/{ref}", response_model=StudyOut)
def get_study(ref: str, session: SessionDep, settings: SettingsDep, _: AdminDep) -> StudyOut:
    return _out(session, service.get_study(session, ref), settings)


@router.patch("/{ref}", response_model=StudyOut)
def update_study(
    ref: str, body: StudyUpdate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> StudyOut:
    study = service.update_study(session, service.get_study(session, ref), body)
    return _out(session, study, settings)


@router.delete("/{ref}", status_code=204)
def delete_study(ref: str, session: SessionDep, _: AdminDep) -> Response:
    service.delete_study(session, service.get_study(session, ref))
    return Response(status_code=204)


@router.post("/{ref}/open", response_model=StudyOut)
def open_study(
    ref: str, session: SessionDep, settings: SettingsDep, store: StoreDep, _: AdminDep
) -> StudyOut:
    """Open for votes; every image the study will serve is rendered now, in its display box."""
    study = service.open_study(session, service.get_study(session, ref))
    prepare_study(session, store, study)
    return _out(session, study, settings)


@router.post("/{ref}/close", response_model=StudyOut)
def close_study(ref: str, session: SessionDep, settings: SettingsDep, _: AdminDep) -> StudyOut:
    return _out(session, service.close_study(session, service.get_study(session, ref)), settings)


@router.post("/{ref}/invites", status_code=201, response_model=list[InviteOut])
def invite(
    ref: str,
    body: InviteRequest,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> list[InviteOut]:
    study = service.get_study(session, ref)
    given = body.model_fields_set
    created = create_invites(
        session,
        study,
        body.count,
        settings.base_url,
        expires_in_days=body.expires_in_days
        if "expires_in_days" in given
        else settings.invite_ttl_days,
        max_uses=body.max_uses if "max_uses" in given else settings.invite_max_uses,
    )
    return [InviteOut(handle=a.handle, url=url) for a, url in created]


@router.get("/{ref}/annotators", response_model=list[AnnotatorOut])
def annotators(
    ref: str,
    session: SessionDep,
    _: AdminDep,
    aspect: str | None = Query(
        None, description="a study with aspects: judged on this aspect's answers (default: first)"
    ),
) -> list[AnnotatorOut]:
    """Every annotator with the exclusion the leaderboard and exports apply, and why."""
    study = service.get_study(session, ref)
    return [AnnotatorOut(**row) for row in annotator_report(session, study, aspect)]


@router.post("/{ref}/annotators/{handle}/exclusion", response_model=AnnotatorOut)
def set_exclusion(
    ref: str, handle: str, body: ExclusionRequest, session: SessionDep, _: AdminDep
) -> AnnotatorOut:
    """Override the exclusion rule for one annotator (or clear the override)."""
    study = service.get_study(session, ref)
    set_override(session, study, handle, body.action, body.note)
    row = next(r for r in annotator_report(session, study) if r["handle"] == handle)
    return AnnotatorOut(**row)


@router.get("/{ref}/votes")
def export(
    ref: str,
    request: Request,
    session: SessionDep,
    _: AdminDep,
    format: Literal["csv", "jsonl"] = Query("csv", description="csv or jsonl"),
    exclusions: Literal["on", "off"] = Query(
        "on", description="on: leave out excluded annotators' votes (as the board); off: keep all"
    ),
) -> Response:
    """Every vote, Chatbot Arena layout first: model_a (left), model_b (right), winner."""
    study = service.get_study(session, ref)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return Response(
        export_votes(session, study, format, exclusions=exclusions == "on"),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="votes-{study.public_id}.{format}"'},
    )
