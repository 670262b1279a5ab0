"""How the HTML pages answer a service error (an ArenaError), in one place.

A route group declares its `ErrorPages` as a dependency (it marks the request); the app's one
ArenaError handler (app/error_handlers.py) then asks it to render instead of answering JSON.
An htmx request gets a fragment and the HX headers that put it in the page's message area; a
full page gets the error page; a researcher page answers 401 with the sign-in page instead.
Routes only raise: the session dependency (app/db.py) rolls back whatever they had written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from app.errors import ArenaError, Unauthorized
from app.web.sign_in import safe_next
from app.web.templating import RESEARCHER_PAGE_HEADERS, templates


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def here(request: Request) -> str:
    """The request's path and query: where sign-in sends the reader back to."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def sign_in_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?{urlencode({'next': safe_next(here(request))})}", 303)


@dataclass(frozen=True, eq=False)  # hashed by identity: FastAPI caches dependencies by it
class ErrorPages:
    """The error page (and htmx fragment) of a group of routes, with that group's headers."""

    page: str
    headers: Mapping[str, str]
    # None: an htmx request gets the page too (the researcher pages' board refresh).
    fragment: str | None = None
    # The researcher pages: a 401 is answered with the sign-in page, then back here.
    sign_in_on_401: bool = False

    async def __call__(self, request: Request) -> None:
        """As a dependency: errors of this request are rendered by these pages."""
        self.mark(request)

    def mark(self, request: Request) -> None:
        """Errors of this request are rendered by these pages (a route without dependencies)."""
        request.state.error_pages = self

    def render(self, request: Request, exc: ArenaError) -> Response:
        if self.sign_in_on_401 and isinstance(exc, Unauthorized):
            return sign_in_redirect(request)
        context = {"status": exc.status_code, "message": exc.message}
        htmx = self.fragment is not None and is_htmx(request)
        name = self.fragment if htmx else self.page
        response = templates.TemplateResponse(request, name, context, status_code=exc.status_code)
        response.headers.update(self.headers)
        if htmx:
            # Shown in the page's message area; the current task stays where it is.
            response.headers["HX-Retarget"] = "#flash"
            response.headers["HX-Reswap"] = "innerHTML"
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response


@dataclass(frozen=True, eq=False)  # hashed by identity: FastAPI caches dependencies by it
class PlainRefusal:
    """Errors of image routes: the message as text/plain, with the route's headers."""

    headers: Mapping[str, str]

    async def __call__(self, request: Request) -> None:
        request.state.error_pages = self

    def render(self, request: Request, exc: ArenaError) -> Response:
        return Response(
            exc.message,
            status_code=exc.status_code,
            media_type="text/plain",
            headers=dict(self.headers),
        )


# The researcher's pages (home, compare, leaderboard): the error page; a 401 signs in first.
RESEARCHER_PAGES = ErrorPages(
    "leaderboard/error.html", RESEARCHER_PAGE_HEADERS, sign_in_on_401=True
)
