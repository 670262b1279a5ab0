"""Who may read a leaderboard: anyone for a closed public study; otherwise a researcher, signed in with
an admin API key (a signed, HttpOnly, SameSite cookie, 12 hours) or sending it as a Bearer header.

The cookie holds only a random session token (signed with the app's secret, which bounds its age);
the database maps the token's hash to the key, and each request checks the key is not revoked. Form POSTs carry a CSRF token derived from the
cookie (or, before sign-in, from a short-lived login nonce cookie).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from app.errors import Unauthorized
from app.models import ApiKey, Study
from app.services.api_keys import authenticate, key_for_researcher_session
from app.services.public_results import publicly_readable
from app.validation import control_character

COOKIE_NAME = "arena_researcher"
LOGIN_NONCE_COOKIE = "arena_login_nonce"
MAX_AGE_SECONDS = 12 * 3600


class ResearcherSessions:
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


def sessions(request: Request) -> ResearcherSessions:
    state = request.app.state
    if getattr(state, "researcher_sessions", None) is None:
        state.researcher_sessions = ResearcherSessions(state.settings.resolved_secret_key)
    return state.researcher_sessions


def signed_in_key(request: Request, session: Session) -> ApiKey | None:
    """The admin key behind the researcher cookie, if it is valid and not revoked."""
    token = sessions(request).read(request.cookies.get(COOKIE_NAME))
    return key_for_researcher_session(session, token) if token else None


def bearer_key(request: Request, session: Session) -> ApiKey | None:
    """The admin key of an Authorization: Bearer header (Forbidden if it is not a valid key)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return authenticate(session, key.strip())


def researcher(request: Request, session: Session) -> ApiKey | None:
    return bearer_key(request, session) or signed_in_key(request, session)


def ensure_can_read(request: Request, session: Session, study: Study) -> None:
    """A public study is open to anyone once it is closed; until then, and for every other
    study, a researcher (cookie or Bearer key) is needed. An annotator session counts for
    nothing here."""
    if publicly_readable(study):
        return
    if researcher(request, session) is None:
        why = (
            "its results are published when it closes"
            if study.is_public
            else "this study's leaderboard is not public"
        )
        raise Unauthorized(
            f"{why}: sign in at /login with an admin API key, or send 'Authorization: Bearer <key>'"
        )


def ensure_researcher(request: Request, session: Session) -> ApiKey:
    key = researcher(request, session)
    if key is None:
        raise Unauthorized(
            "sign in at /login with an admin API key, or send 'Authorization: Bearer <key>'"
        )
    return key


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if control_character(target) or not target.isascii():
        return default  # it becomes a Location header: no control characters, ASCII only
    return target
