"""The annotator behind a request: an HttpOnly, SameSite session cookie scoped to one study's
paths, holding an opaque random token (app/services/studies/annotator_sessions.py), and the
CSRF token derived from it (double-submit: the form carries what the cookie implies).

`Visitor` is what one request knows about its annotator, looked up at most once.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.errors import Forbidden
from app.models import AnnotatorSession, Study
from app.services.studies.annotator_sessions import find_session, find_session_in_study
from app.services.studies.invites import annotator_in_study
from app.services.studies.study import get_study_by_public_id

COOKIE_NAME = "arena_session"


class AnnotatorSessions:
    """Derives and checks the CSRF token of an annotator session (one per app, create_app)."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key.encode()

    def csrf_token(self, session_token: str) -> str:
        return hmac.new(self._secret, f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_token: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session_token), token)


class Visitor:
    """The annotator of one request: the cookie is read once, the session row behind it looked
    up once and checked against the study once."""

    def __init__(
        self, request: Request, session: Session, sessions: AnnotatorSessions, max_age: timedelta
    ) -> None:
        self.cookie = request.cookies.get(COOKIE_NAME)
        self._session = session
        self._sessions = sessions
        self._max_age = max_age
        self._viewers: dict[int, AnnotatorSession] = {}

    @cached_property
    def _found(self) -> AnnotatorSession | None:
        return find_session(self._session, self.cookie, max_age=self._max_age)

    def viewer(self, study: Study) -> AnnotatorSession:
        """The annotator session behind the cookie, refused unless it belongs to this study."""
        if study.id not in self._viewers:
            viewer = self._found
            if viewer is None:
                raise Forbidden("you are not signed in to this study: open your invite link")
            annotator_in_study(self._session, viewer.annotator_id, study)
            self._viewers[study.id] = viewer
        return self._viewers[study.id]

    def at(self, study_public_id: str) -> tuple[Study, AnnotatorSession]:
        """The study of an annotator page and the session behind the cookie, in one statement
        when the session belongs to that study (every annotator request); otherwise the study's
        own look-up tells "no such study" (404) and `viewer` why they are refused (403)."""
        found = find_session_in_study(
            self._session, self.cookie, study_public_id, max_age=self._max_age
        )
        if found is None:
            study = get_study_by_public_id(self._session, study_public_id)
            return study, self.viewer(study)
        viewer, study = found
        annotator_in_study(self._session, viewer.annotator_id, study)  # loaded: no statement
        self._viewers[study.id] = viewer
        return study, viewer

    @property
    def csrf(self) -> str:
        """The CSRF token the signed-in annotator's forms must carry."""
        return self._sessions.csrf_token(self.cookie)

    def check_csrf(self, token: str | None) -> None:
        if not self.cookie or not self._sessions.csrf_ok(self.cookie, token):
            raise Forbidden("the form's security token is missing or stale: reload the page")


def visitor_of(request: Request, session: Session) -> Visitor:
    """The request's annotator, looked up in `session` (a route without dependencies)."""
    state = request.app.state
    max_age = timedelta(hours=state.settings.annotator_session_hours)
    return Visitor(request, session, state.annotator_sessions, max_age)


async def visitor(request: Request, session: SessionDep) -> Visitor:
    return visitor_of(request, session)


VisitorDep = Annotated[Visitor, Depends(visitor)]
