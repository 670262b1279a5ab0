"""The annotator's browser session: an HttpOnly, SameSite cookie scoped to one study's paths,
holding an opaque random token (app/services/studies/annotator_sessions.py), and the CSRF token derived
from it (double-submit: the form carries what the cookie implies)."""

from __future__ import annotations

import hashlib
import hmac

COOKIE_NAME = "arena_session"


class AnnotatorSessions:
    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key.encode()

    def csrf_token(self, session_token: str) -> str:
        return hmac.new(self._secret, f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_token: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session_token), token)
