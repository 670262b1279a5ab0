"""The handler registry: job kind -> handler, and the probe job.

A handler takes (context, session), writes through the session without committing, and returns
the job's result; the runner commits it together with the job's completion.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.models.enums import JobKind
from workers.context import Handler, JobContext
from workers.features import extract_features
from workers.leaderboard_job import recompute_leaderboard
from workers.metric_job import compute_metrics


def probe(context: JobContext, session: Session) -> dict[str, Any]:
    """A no-op job to check that workers claim, heartbeat and finish (`arena jobs probe`).

    Payload: seconds to hold the job (in small steps, honouring shutdown) and an optional log
    file to which it appends "job_id worker" once it finishes.
    """
    seconds = float(context.job.payload.get("seconds", 0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        context.check_stop()
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
    log = context.job.payload.get("log")
    if log:
        with open(Path(log), "a") as handle:
            handle.write(f"{context.job.id} {context.worker_name}\n")
    return {"worker": context.worker_name, "seconds": seconds}


HANDLERS: dict[str, Handler] = {
    JobKind.extract_features: extract_features,
    JobKind.compute_metrics: compute_metrics,
    JobKind.recompute_leaderboard: recompute_leaderboard,
    JobKind.probe: probe,
}
