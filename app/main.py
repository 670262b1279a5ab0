"""The FastAPI application, built by create_app(settings) so tests bring their own settings."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from app import __version__, gc_tuning
from app.api.openapi import install_openapi
from app.db import commit_executor, make_engine, make_session_factory
from app.error_handlers import install_error_handlers
from app.media import MediaStore
from app.request_guard import RequestGuard
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Sync routes run on this many threads: as many as the database pool has connections.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        if settings.gc_tuning:
            gc_tuning.tune_for_serving()
        yield
        app.state.commit_executor.shutdown(wait=True)
        app.state.invalidations.flush()  # the votes' last bumps, for the other processes

    app = FastAPI(
        lifespan=lifespan,
        title="Gallery Arena",
        version=__version__,
        # Served from vendored files by app/web/api_docs.py (FastAPI's default uses a CDN).
        docs_url=None,
        redoc_url=None,
        description=(
            "Human preference and automatic metrics for image generators. Admin routes under "
            "/api need `Authorization: Bearer <key>` (create one with `arena keys create`)."
        ),
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.session_factory = make_session_factory(app.state.engine)
    app.state.commit_executor = commit_executor(settings)
    app.state.media = MediaStore(settings.media_dir)

    from app import observability

    observability.configure_logging(settings)
    app.add_middleware(observability.RequestContextMiddleware)

    from app.deps.annotator import AnnotatorSessions
    from app.deps.limits import RateLimiter
    from app.deps.researcher import ResearcherSessions
    from app.shared_state import Invalidations, rate_limit_storage

    # Everything requests share is built here, once, before the first request: nothing is
    # created lazily by concurrent requests on the threadpool.
    app.state.rate_limiter = RateLimiter(rate_limit_storage(settings, app.state.engine))
    app.state.rate_limiter_lock = threading.Lock()  # a test's reset (rate_limiter = None)
    secret = settings.resolved_secret_key
    app.state.researcher_sessions = ResearcherSessions(secret)
    app.state.annotator_sessions = AnnotatorSessions(secret)
    app.state.sample_grids = {}  # rendered sample grids, by (database, study, generator, ids)
    app.state.invalidations = Invalidations(settings.redis_url, settings.redis_prefix)
    # Built once here, not lazily per request: views never wait for a recomputation once a
    # board exists; a worker does it (the deduplicated recompute_leaderboard job).
    from app.leaderboard.cache import LeaderboardCache
    from app.services.compute.jobs import enqueue_leaderboard_recomputation

    app.state.leaderboard_cache = LeaderboardCache(
        session_factory=app.state.session_factory,
        invalidations=app.state.invalidations,
        request_recomputation=enqueue_leaderboard_recomputation,
    )

    install_error_handlers(app)
    # Outermost: oversized or control-character requests never reach a route.
    app.add_middleware(RequestGuard, max_request_bytes=settings.max_request_bytes)

    from app.api import generators, jobs, keys, leaderboard, prompt_sets, reference_sets, studies
    from app.api import invites as invite_routes
    from app.web import annotate, api_docs, home, media, sign_in
    from app.web import leaderboard as leaderboard_pages

    # The annotator pages first: routes are matched in this order, and the vote path is the
    # busiest (their paths, /invite/… and /study/…, are nobody else's): the vote before all.
    for router in (
        annotate.vote_router,
        annotate.router,
        generators.router,
        prompt_sets.router,
        reference_sets.router,
        jobs.router,
        keys.router,
        studies.router,
        invite_routes.router,
        media.router,
        leaderboard.router,
        leaderboard_pages.router,
        sign_in.router,
        home.router,
        api_docs.router,
    ):
        app.include_router(router)

    install_openapi(app)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Ready to serve: the database answers and its schema is at the migrations' head."""
        ready, checks = observability.readiness(app.state.engine)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus exposition format (scrape it from the operator's network only)."""
        from prometheus_client import CONTENT_TYPE_LATEST

        body = observability.metrics_text(settings, app.state.session_factory)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app
