"""Who reads a researcher page: anyone for a closed public study; otherwise a researcher,
signed in with an admin API key (a signed, HttpOnly, SameSite cookie, 12 hours) or sending it
as a Bearer header.

The cookie holds only a random session token (signed with the app's secret, which bounds its
age); the database maps the token's hash to the key, and each request checks the key is not
revoked. Form POSTs carry a CSRF token derived from the cookie (or, before sign-in, from a
short-lived login nonce cookie).

`Reader` is what one request knows about its reader, looked up at most once: the cookie is
parsed once, the key behind it (or behind a Bearer header) read once, however many places of
a page ask.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.errors import Unauthorized
from app.models import ApiKey, Study
from app.services.api_keys import authenticate, key_for_researcher_session
from app.services.public_results import publicly_readable

COOKIE_NAME = "arena_researcher"
LOGIN_NONCE_COOKIE = "arena_login_nonce"
MAX_AGE_SECONDS = 12 * 3600
SIGN_IN_HINT = "sign in at /login with an admin API key, or send 'Authorization: Bearer <key>'"


class ResearcherSessions:
    """Signs and reads the researcher cookie; derives CSRF tokens (one per app, create_app)."""

    def __init__(self, secret_key: str, max_age: int = MAX_AGE_SECONDS) -> None:
        self._secret = secret_key.encode()
        self._serializer = URLSafeTimedSerializer(secret_key, salt="arena-researcher-session")
        self.max_age = max_age

    def issue(self, token: str) -> str:
        return self._serializer.dumps({"s": token})

    def read(self, cookie: str | None) -> str | None:
        """The session token, or None when the cookie is absent, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str):
            return None
        return data["s"]

    def _token(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, token: str) -> str:
        return self._token(f"researcher-csrf:{token}")

    def login_token(self, nonce: str) -> str:
        return self._token(f"login-csrf:{nonce}")

    @staticmethod
    def same(expected: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(expected, given)


async def researcher_sessions(request: Request) -> ResearcherSessions:
    """The app's cookie signer (app.state, built in create_app)."""
    return request.app.state.researcher_sessions


ResearcherSessionsDep = Annotated[ResearcherSessions, Depends(researcher_sessions)]


class Reader:
    """The reader of one request. Each property is looked up on first use and remembered;
    the Bearer header is asked first, the cookie only when there is none (as before)."""

    def __init__(self, request: Request, session: Session, sessions: ResearcherSessions) -> None:
        self._request = request
        self._session = session
        self.sessions = sessions

    @cached_property
    def token(self) -> str | None:
        """The researcher session token of a valid cookie."""
        return self.sessions.read(self._request.cookies.get(COOKIE_NAME))

    @cached_property
    def signed_in_key(self) -> ApiKey | None:
        """The admin key behind the researcher cookie, if it is valid and not revoked."""
        return key_for_researcher_session(self._session, self.token) if self.token else None

    @cached_property
    def bearer_key(self) -> ApiKey | None:
        """The admin key of an Authorization: Bearer header (Forbidden if it is not valid)."""
        header = self._request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return authenticate(self._session, key.strip())

    @cached_property
    def researcher(self) -> ApiKey | None:
        return self.bearer_key or self.signed_in_key

    @property
    def signed_in(self) -> bool:
        return self.signed_in_key is not None

    @cached_property
    def csrf_token(self) -> str | None:
        """What this reader's forms carry (None without a researcher cookie)."""
        return self.sessions.csrf_token(self.token) if self.token else None

    def csrf_ok(self, given: str | None) -> bool:
        return self.csrf_token is not None and self.sessions.same(self.csrf_token, given)

    def ensure_can_read(self, study: Study) -> None:
        """A public study is open to anyone once it is closed; until then, and for every other
        study, a researcher (cookie or Bearer key) is needed. An annotator session counts for
        nothing here."""
        if publicly_readable(study):
            return
        if self.researcher is None:
            why = (
                "its results are published when it closes"
                if study.is_public
                else "this study's leaderboard is not public"
            )
            raise Unauthorized(f"{why}: {SIGN_IN_HINT}")

    def ensure_researcher(self) -> ApiKey:
        if self.researcher is None:
            raise Unauthorized(SIGN_IN_HINT)
        return self.researcher


async def reader(request: Request, session: SessionDep, sessions: ResearcherSessionsDep) -> Reader:
    return Reader(request, session, sessions)


ReaderDep = Annotated[Reader, Depends(reader)]
