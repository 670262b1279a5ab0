"""Admin JSON API: a study's invite links, listed with their lifecycle, and revoked."""

from __future__ import annotations

from fastapi import APIRouter

from app.db import SessionDep
from app.deps.admin import AdminDep
from app.services.studies.invites import invite_status, list_annotators, revoke_invite
from app.services.studies.schemas import InviteStatusOut
from app.services.studies.study import get_study

router = APIRouter(prefix="/api/studies/{ref}/invites", tags=["studies"])


def _out(annotator) -> InviteStatusOut:
    return InviteStatusOut(
        handle=annotator.handle,
        status=invite_status(annotator),
        uses=annotator.invite_uses,
        max_uses=annotator.invite_max_uses,
        expires_at=annotator.invite_expires_at,
        revoked_at=annotator.invite_revoked_at,
        created_at=annotator.created_at,
    )


@router.get("", response_model=list[InviteStatusOut])
def list_invites(ref: str, session: SessionDep, _: AdminDep) -> list[InviteStatusOut]:
    """Every invite of the study: active, expired, used up or revoked (never the link itself)."""
    study = get_study(session, ref)
    return [_out(a) for a in list_annotators(session, study) if not a.is_simulated]


@router.delete("/{handle}", response_model=InviteStatusOut)
def revoke(ref: str, handle: str, session: SessionDep, _: AdminDep) -> InviteStatusOut:
    """Revoke one invite: its link stops opening and its annotator's sessions end at once."""
    return _out(revoke_invite(session, get_study(session, ref), handle))
