"""Injected things for the JSON API: the session, the settings, the media store, the admin key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.errors import Unauthorized
from app.media import MediaStore
from app.models import ApiKey
from app.services.api_keys import authenticate
from app.settings import Settings
from app.validation import MAX_ID


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> MediaStore:
    return request.app.state.media


# auto_error=False: a missing key is answered by require_admin with a message that says how
# to get one; the scheme itself is what puts "bearer" security into the OpenAPI document.
bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="an admin key from `arena keys create`"
)


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """Check the key in a short session of its own: no request holds the key row or a
    transaction while it reads an upload."""
    key = credentials.credentials.strip() if credentials else ""
    if not key:
        raise Unauthorized(
            "missing API key: send the header 'Authorization: Bearer <key>' "
            "(create a key with `arena keys create --name NAME`)"
        )
    with request.app.state.session_factory() as session:
        return authenticate(session, key)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[MediaStore, Depends(get_store)]
AdminDep = Annotated[ApiKey, Depends(require_admin)]
# A numeric row id in a path: ASCII digits within the INTEGER columns' range, else 422.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]
