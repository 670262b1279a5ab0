"""Annotator pages: invite → consent → tasks (pairwise, rating, flag) → thank-you.

Thin routes: they check the annotator (the session cookie, app/deps/annotator.py), the CSRF
token and the rate limits, call the services (which decide what is shown: opaque ids only), and
render. They only raise: ANNOTATOR_PAGES renders every error (a fragment for htmx) and the
session dependency rolls back. Every form works without JavaScript (POST then 303 to the task
page); with htmx the next task is swapped in instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from app.db import SessionDep, on_commit, session_in_this_thread
from app.deps.annotator import COOKIE_NAME, Visitor, VisitorDep, visitor_of
from app.deps.common import SettingsDep, StoreDep
from app.deps.limits import LimiterDep, RateLimiter, rate_limiter
from app.display import MEDIA_TYPE
from app.errors import InvalidInput
from app.media import MediaStore
from app.models import Annotator, AnnotatorSession, Study
from app.models.enums import StudyKind
from app.observability import TASKS_SERVED, VOTES
from app.services.studies.annotator_sessions import start_session
from app.services.studies.assignment import (
    answer_and_continue,
    next_assignment,
    page_ahead,
    task_view,
)
from app.services.studies.invites import annotator_for_token, record_consent
from app.services.studies.task_images import image_path_for_token
from app.services.studies.task_session import (
    SessionProgress,
    release_open,
    session_progress,
    skip_assignment,
)
from app.settings import Settings
from app.validation import check_fields
from app.web.client_address import client_address
from app.web.errors import ErrorPages, PlainRefusal, is_htmx
from app.web.templating import templates

# Pages an annotator sees are never cached, never framed (keyboard voting + clickjacking) and
# never leak their URL to another site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}

# Every error of these pages: the error page, or for htmx the message in the page's flash area.
ANNOTATOR_PAGES = ErrorPages("annotate/error.html", PAGE_HEADERS, fragment="annotate/_error.html")

router = APIRouter(include_in_schema=False, dependencies=[Depends(ANNOTATOR_PAGES)])

# A study with aspects: one answer per aspect, in the form fields `choice.<key>` (pairwise) or
# `rating.<key>` (rating).
ASPECT_FIELDS = ("choice.", "rating.")


@dataclass(frozen=True)
class VoteForm:
    """The fields of a submitted answer, read from the form parsed once, not as a Form
    parameter per field (FastAPI validated each through pydantic: 4-5 % of the server's CPU per
    vote). An empty field counts as absent, as with Form parameters; per-aspect answers come
    from `choice.<key>` / `rating.<key>`."""

    assignment: str = ""
    choice: str | None = None
    rating: str | None = None
    flags: list[str] | None = None
    none_of_these: str | None = None
    client_ms: str | None = None
    csrf_token: str | None = None
    ahead: str | None = None
    aspects: dict[str, str] = field(default_factory=dict)


# The fields that take one text value (flags is a list; aspects come by prefix).
VOTE_FIELDS = tuple(f.name for f in fields(VoteForm) if f.name not in ("flags", "aspects"))


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"the field {name!r} must be text, not a file")
    check_fields(**{name: value})
    return value


URLENCODED = "application/x-www-form-urlencoded"
# Starlette's own limit on a form's fields.
MAX_FORM_FIELDS = 1000


async def _form(request: Request) -> FormData:
    """The submitted form. A URL-encoded one (what browsers and htmx send) is split by the
    standard library, decoded as Starlette decodes it (latin-1 bytes, then UTF-8 escapes): a
    third of the CPU of Starlette's streaming parser, built for bodies of any size, where the
    request-size guard already caps this one. Anything else (multipart) goes to Starlette."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != URLENCODED:
        return await request.form()
    body = await request.body()
    try:
        items = parse_qsl(
            body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        raise InvalidInput(f"the form has more than {MAX_FORM_FIELDS} fields") from None
    return FormData(items)


async def vote_form(request: Request) -> VoteForm:
    form = await _form(request)
    values: dict[str, Any] = {}
    for name in VOTE_FIELDS:
        value = form.get(name)
        if value is not None and value != "":
            values[name] = _text(name, value)
    flags = [_text("flags", value) for value in form.getlist("flags")]
    aspects: dict[str, str] = {}
    for name, value in form.multi_items():
        prefix = next((p for p in ASPECT_FIELDS if name.startswith(p)), None)
        if prefix is not None and _text(name, value):
            aspects[name[len(prefix) :]] = value
    return VoteForm(**values, flags=flags or None, aspects=aspects)


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _task_context(
    session,
    store,
    settings: Settings,
    study: Study,
    viewer: AnnotatorSession,
    csrf: str,
) -> dict:
    annotator = viewer.annotator
    standing = session_progress(session, viewer)
    task = ahead = None
    ttl = settings.assignment_ttl_seconds
    if standing.finished:
        release_open(session, study, annotator)  # e.g. the task held ahead of the last one
    else:
        assignment = next_assignment(session, annotator, ttl_seconds=ttl)
        if assignment is not None:
            task = task_view(session, store, assignment, viewer, study=study)
            TASKS_SERVED.labels(study.kind).inc()
            if standing.done + 1 < standing.total:
                held = page_ahead(
                    session, store, study, annotator, viewer, assignment, ttl_seconds=ttl
                )
                ahead = held.task if held else None
    return _context(study, annotator, csrf, task, standing, ahead)


def _context(
    study: Study,
    annotator: Annotator,
    csrf: str,
    task,
    standing: SessionProgress,
    ahead=None,
) -> dict:
    return {
        "study_id": study.public_id,
        "question": study.question,
        "aspects": aspect_rows(study),
        "task": task,
        "ahead": ahead,
        "answered": standing.done,
        "target": standing.total,
        "seconds_left": standing.seconds_left,
        "csrf_token": csrf,
        "handle": annotator.handle,
    }


# Keys that answer each aspect row of a pairwise task: left, right, tie, both bad.
# (F, M and C are the full-screen, magnifier and "can't judge" keys.)
PAIRWISE_ASPECT_KEYS = (("1", "2", "3", "4"), ("q", "w", "e", "r"), ("u", "i", "o", "p"))


def aspect_rows(study: Study) -> list[dict[str, Any]]:
    """The task page's rows of answers, one per aspect ([] for a single-question study):
    pairwise rows take their own keys (1-4, q-r, u-p; more than three aspects: by click or
    Tab), rating rows the digits 1-5 for the row in focus, which moves on once answered."""
    rows = []
    for index, aspect in enumerate(study.aspects or []):
        keys = None
        if study.kind == StudyKind.pairwise and index < len(PAIRWISE_ASPECT_KEYS):
            keys = PAIRWISE_ASPECT_KEYS[index]
        rows.append({"key": aspect["key"], "question": aspect["question"], "keys": keys})
    return rows


def _instructions_context(study: Study, annotator: Annotator, csrf: str) -> dict:
    return {
        "study_id": study.public_id,
        "question": study.question,
        "instructions": study.instructions,
        "kind": study.kind,
        "csrf_token": csrf,
        "handle": annotator.handle,
    }


@router.get("/invite/{token}")
def open_invite(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> Response:
    limiter.hit(
        f"invite-ip:{client_address(request)}", settings.invite_rate_per_ip, "invite requests"
    )
    annotator = annotator_for_token(session, token)
    study_id = annotator.study.public_id
    # The token leaves the address bar at once; from here on the session cookie identifies them.
    response = RedirectResponse(f"/study/{study_id}", status_code=303)
    response.headers.update({"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
    _row, session_token = start_session(session, annotator)
    response.set_cookie(
        COOKIE_NAME,
        session_token,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        path=f"/study/{study_id}",
        max_age=int(settings.annotator_session_hours * 3600),
    )
    return response


@router.get("/study/{study_id}", name="study_page")
def study_page(
    study_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    visitor: VisitorDep,
) -> Response:
    study, viewer = visitor.at(study_id)
    csrf = visitor.csrf
    annotator = viewer.annotator
    if annotator.consented_at is None:
        return _render(
            request, "annotate/consent.html", _instructions_context(study, annotator, csrf)
        )
    context = _task_context(session, store, settings, study, viewer, csrf)
    context["instructions"] = study.instructions
    context["kind"] = study.kind
    return _render(request, "annotate/task_page.html", context)


@router.get("/study/{study_id}/instructions", name="study_instructions")
def instructions(study_id: str, request: Request, visitor: VisitorDep) -> Response:
    """The instructions again, after consent (the task page's "Instructions" link and `?` key)."""
    study, viewer = visitor.at(study_id)
    csrf = visitor.csrf
    annotator = viewer.annotator
    context = _instructions_context(study, annotator, csrf)
    context["reread"] = annotator.consented_at is not None
    return _render(request, "annotate/consent.html", context)


@router.post("/study/{study_id}/consent")
def consent(
    study_id: str,
    visitor: VisitorDep,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_fields(csrf_token=csrf_token)
    study, viewer = visitor.at(study_id)
    visitor.check_csrf(csrf_token)
    record_consent(viewer.annotator)
    return RedirectResponse(f"/study/{study.public_id}", status_code=303)


# The vote has a router of its own, without dependencies: FastAPI's solving of the six it took
# (session, settings, store, visitor, limiter, form) and of the error-pages marker cost ~15 % of
# the server's CPU per vote. The route does their work itself, in the same order: the error pages
# first, the form on the event loop, then everything that touches the database in one thread,
# which commits before the response is sent (`session_in_this_thread`).
vote_router = APIRouter(include_in_schema=False)


@vote_router.post("/study/{study_id}/vote")
async def vote(request: Request) -> Response:
    ANNOTATOR_PAGES.mark(request)
    study_id = request.path_params["study_id"]  # a parameter would be validated per request
    form = await vote_form(request)
    limiter = await rate_limiter(request)
    return await run_in_threadpool(_vote, study_id, request, form, limiter)


def _vote(study_id: str, request: Request, form: VoteForm, limiter: RateLimiter) -> Response:
    state = request.app.state
    with session_in_this_thread(request) as session:
        visitor = visitor_of(request, session)
        return _answer(
            study_id, request, session, state.settings, state.media, visitor, limiter, form
        )


def _answer(
    study_id: str,
    request: Request,
    session: Session,
    settings: Settings,
    store: MediaStore,
    visitor: Visitor,
    limiter: RateLimiter,
    form: VoteForm,
) -> Response:
    study, viewer = visitor.at(study_id)
    csrf = visitor.csrf
    annotator = viewer.annotator
    visitor.check_csrf(form.csrf_token)
    limiter.hit_all(
        (
            f"vote-ip:{client_address(request)}",
            settings.vote_rate_per_ip,
            "answers from this address",
        ),
        (f"vote-annotator:{annotator.id}", settings.vote_rate_per_annotator, "answers"),
    )
    if form.none_of_these and form.flags:
        raise InvalidInput("Tick either problems or “none of these”, not both.")
    if study.kind == StudyKind.flag and not form.flags and not form.none_of_these:
        raise InvalidInput(
            "Tick every problem you see, or “none of these” if there is none, then submit."
        )
    answer_flags = [] if form.none_of_these else form.flags
    elapsed = None
    if form.client_ms is not None:
        ms = form.client_ms
        if not (ms.isascii() and ms.isdigit() and len(ms) <= 9):
            raise InvalidInput("client_ms must be a whole number of milliseconds")
        elapsed = int(ms)
    htmx = is_htmx(request)
    # Room for a task ahead after the one this vote brings on screen (the vote counts too).
    before = session_progress(session, viewer)
    # The vote, the next task and the progress bar in one short transaction.
    step = answer_and_continue(
        session,
        store,
        study,
        annotator,
        viewer if htmx else None,
        form.assignment,
        choice=form.choice,
        rating=form.rating,
        flags=answer_flags,
        aspects=form.aspects if study.aspects else None,
        client_ms=elapsed,
        ttl_seconds=settings.assignment_ttl_seconds,
        ahead=form.ahead if htmx else None,
        claim_ahead_room=htmx and before.done + 2 < before.total,
    )
    # The session's fixed total is reached: the tasks just claimed are not shown, they go back.
    standing = session_progress(session, viewer)
    task, held = step.task, step.ahead
    if standing.finished:
        release_open(session, study, annotator)
        task = held = None
    # Committed before anything is sent back (an acknowledged vote survives a crash); only
    # then is the vote counted and the board told.
    invalidations = request.app.state.invalidations
    kind, board = study.kind, f"leaderboard:{study.id}"
    shown = htmx and task is not None

    def _committed() -> None:
        VOTES.labels(kind).inc()
        invalidations.bump_soon(board)
        if shown:
            TASKS_SERVED.labels(kind).inc()

    on_commit(session, _committed)
    if not htmx:
        return RedirectResponse(f"/study/{study.public_id}", status_code=303)
    context = _context(study, annotator, csrf, task, standing, held.task if held else None)
    return _render(request, "annotate/_task.html", context)


@router.post("/study/{study_id}/skip")
def cant_judge(
    study_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    visitor: VisitorDep,
    limiter: LimiterDep,
    assignment: Annotated[str, Form()] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """ "Can't judge": no vote; the item goes back to the pool for other annotators."""
    check_fields(assignment=assignment, csrf_token=csrf_token)
    study, viewer = visitor.at(study_id)
    csrf = visitor.csrf
    annotator = viewer.annotator
    visitor.check_csrf(csrf_token)
    limiter.hit(f"vote-annotator:{annotator.id}", settings.vote_rate_per_annotator, "answers")
    skip_assignment(session, annotator, assignment)
    if not is_htmx(request):
        return RedirectResponse(f"/study/{study.public_id}", status_code=303)
    # The skip and the next task in one transaction, as for a vote.
    context = _task_context(session, store, settings, study, viewer, csrf)
    return _render(request, "annotate/_task.html", context)


# Image bytes of a task: private to this browser. A token names one showing of one rendered
# file and is never reused, so the browser may keep it for good (no revalidation round trip);
# shared caches may not store it at all. Errors are never stored.
IMAGE_HEADERS = {
    "Cache-Control": "private, max-age=31536000, immutable",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
REFUSAL_HEADERS = {**IMAGE_HEADERS, "Cache-Control": "private, no-store"}


class BlindFileResponse(FileResponse):
    """A file sent from disk in chunks (or by the server's sendfile where it offers one),
    without the Last-Modified and ETag headers Starlette derives from the file's mtime: they
    would date a generator's upload."""

    def set_stat_headers(self, stat_result) -> None:
        self.headers.setdefault("content-length", str(stat_result.st_size))


@router.get(
    "/study/{study_id}/image/{token}",
    name="task_image",
    dependencies=[Depends(PlainRefusal(REFUSAL_HEADERS))],
)
def task_image(
    study_id: str, token: str, session: SessionDep, store: StoreDep, visitor: VisitorDep
) -> Response:
    """One image of the annotator's current task, by the token issued when it was shown.

    Under /study/{id} so the path-scoped session cookie is sent; refused without it."""
    study, viewer = visitor.at(study_id)
    path = image_path_for_token(session, store, study, viewer, token)
    return BlindFileResponse(path, media_type=MEDIA_TYPE, headers=IMAGE_HEADERS)
