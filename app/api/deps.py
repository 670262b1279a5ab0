"""Injected things for the JSON API: the session, the settings, the media store, the admin key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.db import SessionDep
from app.errors import Unauthorized
from app.media import MediaStore
from app.models import ApiKey
from app.services.api_keys import authenticate
from app.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> MediaStore:
    return request.app.state.media


def require_admin(request: Request, session: SessionDep) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "missing API key: send the header 'Authorization: Bearer <key>' "
            "(create a key with `arena keys create --name NAME`)"
        )
    return authenticate(session, key.strip())


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[MediaStore, Depends(get_store)]
AdminDep = Annotated[ApiKey, Depends(require_admin)]
