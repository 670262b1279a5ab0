"""Researcher sign-in with an admin API key, and sign-out.

/login    (GET) the form, its CSRF token bound to a short-lived nonce cookie; (POST) check the
          key, start a researcher session (app/deps/researcher.py), go back to `next`
/logout   (POST) end the session

A refused sign-in is answered on the form itself (its message, its status), not an error page.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.db import SessionDep
from app.deps.limits import LimiterDep
from app.deps.researcher import (
    COOKIE_NAME,
    LOGIN_NONCE_COOKIE,
    ReaderDep,
    ResearcherSessions,
    ResearcherSessionsDep,
)
from app.errors import ArenaError, RateLimited
from app.services.api_keys import authenticate, end_researcher_session, start_researcher_session
from app.validation import control_character
from app.web.client_address import client_address
from app.web.templating import RESEARCHER_PAGE_HEADERS, templates

router = APIRouter(include_in_schema=False)

LOGIN_LIMIT_PER_MINUTE = 10


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if control_character(target) or not target.isascii():
        return default  # it becomes a Location header: no control characters, ASCII only
    return target


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(RESEARCHER_PAGE_HEADERS)
    return response


def _login_form(
    request: Request,
    sessions: ResearcherSessions,
    next_url: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    nonce = secrets.token_urlsafe(16)
    response = _render(
        request,
        "leaderboard/login.html",
        {"next": next_url, "error": error, "csrf_token": sessions.login_token(nonce)},
        status,
    )
    response.set_cookie(
        LOGIN_NONCE_COOKIE,
        nonce,
        max_age=1800,
        httponly=True,
        samesite="strict",
        path="/login",
    )
    return response


@router.get("/login")
def login_page(
    request: Request, sessions: ResearcherSessionsDep, next: str | None = None
) -> Response:
    return _login_form(request, sessions, safe_next(next))


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    sessions: ResearcherSessionsDep,
    limiter: LimiterDep,
    api_key: str = Form("", description="an admin API key"),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Response:
    target = safe_next(next)
    try:
        limiter.hit(f"login:{client_address(request)}", LOGIN_LIMIT_PER_MINUTE, "sign-in attempts")
    except RateLimited as exc:
        response = _login_form(request, sessions, target, exc.message, exc.status_code)
        response.headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return response
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    if not nonce or not sessions.same(sessions.login_token(nonce), csrf_token):
        return _login_form(request, sessions, target, "the form expired: sign in again", 403)
    if not api_key.strip():
        return _login_form(
            request,
            sessions,
            target,
            "enter an admin API key (create one with `arena keys create`)",
            422,
        )
    try:
        key = authenticate(session, api_key.strip())
    except ArenaError:
        return _login_form(request, sessions, target, "API key not recognised or revoked", 403)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        sessions.issue(start_researcher_session(session, key)),
        max_age=sessions.max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, reader: ReaderDep, csrf_token: str = Form("")
) -> Response:
    if reader.token is not None and not reader.csrf_ok(csrf_token):
        return _render(
            request,
            "leaderboard/error.html",
            {"status": 403, "message": "stale form: reload and try again"},
            403,
        )
    if reader.token is not None:
        end_researcher_session(session, reader.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response
