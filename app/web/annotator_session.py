"""The annotator's browser session: a signed, HttpOnly, SameSite cookie scoped to one study,
and the CSRF token derived from it (double-submit: the form carries what the cookie implies).
The signature carries its time, so a session ends after ARENA_ANNOTATOR_SESSION_HOURS whatever
the browser keeps."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "arena_session"


class AnnotatorSessions:
    def __init__(self, secret_key: str, max_age_seconds: float = 7 * 24 * 3600) -> None:
        self._secret = secret_key.encode()
        self._max_age = max_age_seconds
        self._serializer = URLSafeTimedSerializer(secret_key, salt="arena-annotator-session")

    def issue(self, annotator_id: int) -> str:
        """A new cookie value; the nonce makes each login's CSRF token different."""
        return self._serializer.dumps({"a": annotator_id, "n": secrets.token_urlsafe(16)})

    def read(self, cookie: str | None) -> tuple[int, str] | None:
        """(annotator id, nonce) from a cookie, or None when it is absent, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self._max_age)
        except BadSignature:  # SignatureExpired is a BadSignature
            return None
        if not isinstance(data, dict) or not isinstance(data.get("a"), int):
            return None
        return data["a"], str(data.get("n", ""))

    def csrf_token(self, annotator_id: int, nonce: str) -> str:
        message = f"csrf:{annotator_id}:{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def csrf_ok(self, annotator_id: int, nonce: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(annotator_id, nonce), token)
