"""What the service is doing, for operators: Prometheus metrics, readiness, request ids and logs.

Counters and histograms live in the process (prometheus_client's default registry). Under
several processes, `arena serve --workers N` points prometheus_client at a shared folder
(ARENA_METRICS_MULTIPROC_DIR, its multiprocess mode) and /metrics adds up every process.
Queue depth and worker heartbeats are read from the database at scrape time, so every process
reports the same numbers.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import Job, utcnow
from app.models.enums import PENDING_STATUSES, JobStatus
from app.settings import Settings

TASKS_SERVED = Counter(
    "arena_tasks_served", "Annotator task pages served with a task, by study kind", ["kind"]
)
VOTES = Counter("arena_votes", "Votes stored (acknowledged), by study kind", ["kind"])
REQUEST_SECONDS = Histogram(
    "arena_http_request_duration_seconds",
    "Request latency by method, route template and status",
    ["method", "route", "status"],
)
LEADERBOARD_RECOMPUTATIONS = Counter(
    "arena_leaderboard_recomputations", "Leaderboards computed (not served from a cache)"
)

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = logging.getLogger("app.access")


class QueueCollector(Collector):
    """Job queue depth by kind and status, and the workers' last heartbeats, from the database."""

    def __init__(self, session_factory: Callable[[], Session], lease_seconds: int) -> None:
        self.session_factory = session_factory
        self.lease_seconds = lease_seconds

    def collect(self):
        depth = GaugeMetricFamily(
            "arena_jobs", "Jobs queued or running, by kind and status", labels=["kind", "status"]
        )
        beats = GaugeMetricFamily(
            "arena_worker_last_heartbeat_timestamp_seconds",
            "Last lease renewal of each worker holding a job (lease end minus the lease length)",
            labels=["worker"],
        )
        active = GaugeMetricFamily(
            "arena_workers_active", "Workers holding a job whose lease has not run out"
        )
        with self.session_factory() as session:
            rows = session.execute(
                select(Job.kind, Job.status, func.count())
                .where(Job.status.in_(PENDING_STATUSES))
                .group_by(Job.kind, Job.status)
            )
            for kind, status, count in rows:
                depth.add_metric([kind, status], count)
            leases = session.execute(
                select(Job.worker, func.max(Job.lease_until))
                .where(Job.status == JobStatus.running, Job.worker.is_not(None))
                .group_by(Job.worker)
            )
            now, live = utcnow(), 0
            for worker, lease_until in leases:
                if lease_until is None:
                    continue
                if lease_until.tzinfo is None:  # SQLite through a bare aggregate: naive UTC
                    lease_until = lease_until.replace(tzinfo=now.tzinfo)
                beat = lease_until - timedelta(seconds=self.lease_seconds)
                beats.add_metric([worker], beat.timestamp())
                live += lease_until > now
            active.add_metric([], live)
        yield from (depth, beats, active)


class _ProcessMetrics(Collector):
    """This process's counters, or every process's under prometheus_client's multiprocess mode."""

    def __init__(self, multiproc_dir) -> None:
        self.multiproc_dir = multiproc_dir

    def collect(self):
        if self.multiproc_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(self.multiproc_dir))
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()


def metrics_text(settings: Settings, session_factory: Callable[[], Session]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessMetrics(settings.metrics_multiproc_dir))
    registry.register(QueueCollector(session_factory, settings.job_lease_seconds))
    return generate_latest(registry)


def readiness(engine) -> tuple[bool, dict[str, str]]:
    """(ready, checks): the database answers and its schema is at the migrations' head."""
    from alembic.runtime.migration import MigrationContext

    from app.migrate import head_revisions

    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", reported below
        return False, {"database": f"unreachable: {type(exc).__name__}: {exc}"[:300]}
    heads = set(head_revisions())
    if current != heads:
        return False, {
            "database": "ok",
            "migrations": f"at {sorted(current) or 'nothing'}, head is {sorted(heads)}: "
            "run `arena migrate`",
        }
    return True, {"database": "ok", "migrations": "at head"}


class RequestContextMiddleware:
    """Gives each request an id (X-Request-ID, taken from the client when well-formed), times
    it into the latency histogram by route template, and logs one access line."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            # The template (/api/generators/{ref}), never the raw path: bounded label values.
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(elapsed)
            access_log.info(
                "%s %s %s %.1f ms",
                scope["method"],
                template,
                status,
                elapsed * 1000,
                extra={
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id_var.reset(token)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


_HANDLER_NAME = "arena"


def configure_logging(settings: Settings) -> None:
    """One handler on the `app` loggers: text for people, or JSON lines with the request id."""
    logger = logging.getLogger("app")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_RequestIdFilter())
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
    logger.propagate = False
    # A logging.config call elsewhere in the process (disable_existing_loggers) may have turned
    # these off; the app asked for its logs, so they are on.
    logger.disabled = access_log.disabled = False
    # Text mode leaves access lines to uvicorn; JSON mode logs them here, with the request id
    # (`arena serve` then turns uvicorn's own access log off).
    access_log.setLevel(logging.INFO if settings.log_format == "json" else logging.WARNING)
