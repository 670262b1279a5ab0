"""Researcher sign-in with an admin API key, and sign-out.

/login    (GET) the form, with a CSRF token bound to a short-lived nonce cookie; (POST) check
          the key, start a researcher session (app/web/researcher_session.py), go back to `next`
/logout   (POST) end the session
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.db import SessionDep
from app.errors import ArenaError
from app.services.api_keys import authenticate, end_researcher_session, start_researcher_session
from app.web.client_address import client_address
from app.web.ratelimit import RateLimiter
from app.web.researcher_session import COOKIE_NAME, LOGIN_NONCE_COOKIE, safe_next, sessions
from app.web.templating import RESEARCHER_PAGE_HEADERS as PAGE_HEADERS
from app.web.templating import templates

router = APIRouter(include_in_schema=False)

LOGIN_LIMIT_PER_MINUTE = 10


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    if getattr(state, "rate_limiter", None) is None:
        state.rate_limiter = RateLimiter()
    return state.rate_limiter


def _login_form(
    request: Request, next_url: str, error: str | None = None, status: int = 200
) -> Response:
    import secrets

    nonce = secrets.token_urlsafe(16)
    response = _render(
        request,
        "leaderboard/login.html",
        {
            "next": next_url,
            "error": error,
            "csrf_token": sessions(request).login_token(nonce),
        },
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
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_form(request, safe_next(next))


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    api_key: str = Form("", description="an admin API key"),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Response:
    target = safe_next(next)
    try:
        client = client_address(request)
        _limiter(request).hit(f"login:{client}", LOGIN_LIMIT_PER_MINUTE, "sign-in attempts")
    except ArenaError as exc:
        response = _login_form(request, target, exc.message, exc.status_code)
        response.headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return response
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    if not nonce or not sessions(request).same(sessions(request).login_token(nonce), csrf_token):
        return _login_form(request, target, "the form expired: sign in again", 403)
    if not api_key.strip():
        return _login_form(
            request,
            target,
            "enter an admin API key (create one with `arena keys create`)",
            422,
        )
    try:
        key = authenticate(session, api_key.strip())
    except ArenaError:
        return _login_form(request, target, "API key not recognised or revoked", 403)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        sessions(request).issue(start_researcher_session(session, key)),
        max_age=sessions(request).max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf_token: str = Form("")) -> Response:
    token = sessions(request).read(request.cookies.get(COOKIE_NAME))
    if token is not None and not sessions(request).same(
        sessions(request).csrf_token(token), csrf_token
    ):
        return _render(
            request,
            "leaderboard/error.html",
            {"status": 403, "message": "stale form: reload and try again"},
            403,
        )
    if token is not None:
        end_researcher_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response
