"""The admin key of a JSON API request: `Authorization: Bearer <key>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.errors import Unauthorized
from app.models import ApiKey
from app.services.api_keys import authenticate

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


AdminDep = Annotated[ApiKey, Depends(require_admin)]
