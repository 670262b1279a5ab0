"""Admin JSON API: more admin API keys (the first one comes from `arena keys create`)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import AdminDep
from app.api.schemas import ApiKeyCreate, ApiKeyCreated
from app.db import SessionDep
from app.services.api_keys import create_api_key

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, session: SessionDep, _: AdminDep) -> ApiKeyCreated:
    row, key = create_api_key(session, body.name)
    return ApiKeyCreated(id=row.id, name=row.name, key=key)
