"""What a job handler gets besides its session, and the exceptions it raises to steer the runner.

The context holds the job, the settings, the media store, a way to obtain extractors and two
callbacks (record progress, name the worker) — never the Worker itself, so handlers depend on
this module only and the runner can import every handler without a cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.media import MediaStore
from app.models import Job
from app.settings import Settings
from workers import queue


class Deferred(Exception):
    """The job's inputs are not ready; give it back and look again after `seconds`."""

    def __init__(self, reason: str, seconds: float = 10) -> None:
        super().__init__(reason)
        self.seconds = seconds


class ShuttingDown(Exception):
    """SIGTERM arrived mid-job: release the job for another worker."""


@dataclass
class JobContext:
    """The job, settings, media, extractors, progress and stop signals of one running job."""

    job: Job
    settings: Settings
    media: MediaStore
    worker_name: str
    session_factory: sessionmaker[Session]
    get_extractor: Callable[[str, str], Any]
    record_progress: Callable[[JobContext], None]
    stopping: threading.Event
    done: int = 0
    total: int = 0
    lease_lost: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        """Record progress now (one short transaction per chunk), not only at the next beat."""
        self.done, self.total = done, total
        self.record_progress(self)

    def check_stop(self) -> None:
        """Call between units of work: leave early on shutdown or when the lease was lost."""
        if self.lease_lost.is_set():
            raise queue.LeaseLost(f"job {self.job.id} lease lost")
        if self.stopping.is_set():
            raise ShuttingDown()

    def extractor(self, name: str, mode: str = "clean"):
        return self.get_extractor(name, mode)


Handler = Callable[[JobContext, Session], dict[str, Any]]
