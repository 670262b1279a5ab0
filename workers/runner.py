"""The worker process: claim a job, run its handler under a heartbeat, record the outcome.

Any number of these run against one database. A handler's writes and the job's completion
commit in one transaction, so a worker killed at any point leaves either nothing or everything;
the job is then re-claimed when its lease expires and produces the same result.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_session_factory
from app.media import MediaStore
from app.models import Job
from app.settings import Settings
from workers import extractor_pool, queue
from workers.context import Deferred, Handler, JobContext, ShuttingDown
from workers.handlers import HANDLERS

log = logging.getLogger("arena.worker")


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        device: str = "cpu",
        concurrency: int = 1,
        once: bool = False,
        kinds: list[str] | None = None,
        poll_seconds: float = 1.0,
        session_factory: sessionmaker[Session] | None = None,
    ) -> None:
        self.settings = settings
        self.device = device
        self.concurrency = concurrency
        self.once = once
        self.kinds = kinds
        self.poll_seconds = poll_seconds
        self.handlers: dict[str, Handler] = dict(HANDLERS)
        self.factory = session_factory or make_session_factory(make_engine(settings))
        self.media = MediaStore(settings.media_dir)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.processed = 0

    def extractor(self, name: str, mode: str = "clean"):
        """This worker's extractor `name` (built once per process and configuration)."""
        return extractor_pool.extractor(self.settings, self.device, name, mode)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> int:
        """Work until stopped (or, with once=True, until no job is queued or running)."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stopping.set())
        threads = [
            threading.Thread(target=self._loop, name=f"worker-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.processed

    def _loop(self) -> None:
        while not self.stopping.is_set():
            job = queue.claim(self.factory, self.name, self.settings.job_lease_seconds, self.kinds)
            if job is None:
                if self.once:
                    with self.factory() as session:
                        if not queue.has_pending(session, self.kinds):
                            return
                self.stopping.wait(self.poll_seconds)
                continue
            self.run_job(job)

    def run_job(self, job: Job) -> str:
        """Run one claimed job to an outcome: done, deferred, released, lost or failed."""
        context = JobContext(
            job=job,
            settings=self.settings,
            media=self.media,
            worker_name=self.name,
            session_factory=self.factory,
            get_extractor=self.extractor,
            record_progress=self.record_progress,
            stopping=self.stopping,
        )
        beat_stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(context, beat_stop), daemon=True)
        beat.start()
        try:
            handler = self.handlers.get(job.kind)
            if handler is None:
                raise ValueError(f"no handler for job kind {job.kind!r}")
            with self.factory() as session:
                result = handler(context, session)
                # A finished job shows all its units done; one without units counts as one.
                total = max(context.total, context.done) or 1
                queue.complete(session, job.id, self.name, result, progress=(total, total))
                session.commit()
            outcome = "done"
            self.processed += 1
        except Deferred as exc:
            queue.release(self.factory, job.id, self.name, delay=exc.seconds)
            outcome = "deferred"
        except ShuttingDown:
            queue.release(self.factory, job.id, self.name)
            outcome = "released"
        except queue.LeaseLost:
            outcome = "lost"
        except Exception as exc:  # noqa: BLE001 - any handler error is a failed attempt
            log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            outcome = queue.fail(
                self.factory,
                job.id,
                self.name,
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
            )
        finally:
            beat_stop.set()
            beat.join()
        log.info("job %s (%s): %s", job.id, job.kind, outcome)
        return outcome

    def record_progress(self, context: JobContext) -> None:
        try:
            queue.heartbeat(
                self.factory,
                context.job.id,
                self.name,
                self.settings.job_lease_seconds,
                context.done,
                context.total,
            )
        except queue.LeaseLost:
            context.lease_lost.set()
        except Exception:
            # Progress is informative: a failed write (e.g. SQLite busy) must not fail the job;
            # the heartbeat writes it again.
            log.exception("recording progress of job %s failed", context.job.id)

    def _heartbeat(self, context: JobContext, stop: threading.Event) -> None:
        interval = max(self.settings.job_lease_seconds / 3, 0.2)
        while not stop.wait(interval):
            try:
                queue.heartbeat(
                    self.factory,
                    context.job.id,
                    self.name,
                    self.settings.job_lease_seconds,
                    context.done,
                    context.total,
                )
            except queue.LeaseLost:
                context.lease_lost.set()
                return
            except Exception:
                log.exception("heartbeat for job %s failed", context.job.id)


def run_until_idle(settings: Settings, **kwargs: Any) -> int:
    """Convenience for the demo and tests: drain the queue in this process."""
    started = time.monotonic()
    processed = Worker(settings, once=True, **kwargs).run()
    log.info("drained %d jobs in %.1f s", processed, time.monotonic() - started)
    return processed
