"""Every error the app answers, in one shape: {"detail": "<what to fix>"} (+ "errors" on 422).

The HTML pages answer a service error with a page instead: a route group marks its requests
with its ErrorPages (app/web/errors.py), and the one ArenaError handler here hands it over.

Service exceptions carry their status (app/errors.py). Request validation errors keep
FastAPI's per-field list under "errors" with a readable summary in "detail". Starlette's own
errors are translated: too many multipart files or fields is 413 (not 400), and 405 or OPTIONS
answers name every method the path takes in Allow (Starlette names only the first route's).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.errors import ArenaError

# Starlette's multipart limits (MultiPartException messages) that mean "too much", not "bad".
TOO_MUCH = ("Too many files", "Too many fields", "exceeded maximum size")


def error_response(status: int, detail: str, headers: dict[str, str] | None = None, **extra):
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _field(error: dict[str, Any]) -> dict[str, Any]:
    return {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}


def validation_summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


HTTP_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (asked of the router, method by method)."""
    routes = request.app.router.routes
    methods = [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]
    return sorted([*methods, "OPTIONS"]) if methods else []


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ArenaError)
    async def _arena_error(request: Request, exc: ArenaError) -> Response:
        # An HTML route marked its request with its error pages (app/web/errors.py).
        pages = getattr(request.state, "error_pages", None)
        if pages is not None:
            return pages.render(request, exc)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(exc.status_code, exc.message, headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return error_response(422, validation_summary(errors), errors=[_field(e) for e in errors])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail)
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(request))
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
            return error_response(
                405, f"{request.method} is not allowed here; use {allow}", {"Allow": allow}
            )
        if exc.status_code == 400 and any(marker in detail for marker in TOO_MUCH):
            return error_response(413, f"the form is too large: {detail}")
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            return error_response(422, "the JSON body is nested too deeply")
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            detail = "the body is not valid UTF-8"
        return error_response(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        # A backstop behind the validation layer (app/validation.py): a value the database
        # refuses (NUL in text, an integer past its column) is the client's to fix, not a 500.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "out of range"
        return error_response(422, f"a value in the request cannot be stored: {reason}")
