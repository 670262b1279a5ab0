"""Admin JSON API: admin API keys (the first one comes from `arena keys create`): create, list,
revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import IdPath
from app.db import SessionDep
from app.deps.admin import AdminDep
from app.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from app.validation import CleanModel


class ApiKeyCreate(CleanModel):
    name: str = Field(min_length=1, max_length=200)


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    key: str = Field(description="shown once; only its SHA-256 is stored")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, session: SessionDep, _: AdminDep) -> ApiKeyCreated:
    row, key = create_api_key(session, body.name)
    return ApiKeyCreated(id=row.id, name=row.name, key=key)


@router.get("", response_model=list[ApiKeyOut])
def list_keys(session: SessionDep, _: AdminDep):
    """Every key with its prefix and last use (never the key itself: only its hash is stored)."""
    return list_api_keys(session)


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_key(key_id: IdPath, session: SessionDep, admin: AdminDep):
    """Revoke a key; requests with it are refused from the next one on (not the key in use)."""
    return revoke_api_key(session, key_id, used_by=admin)
