"""The leaderboard job: recompute one study's board for one set of reader options and store it
as the snapshot that every web process reads (app.leaderboard.cache)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.leaderboard.snapshots import options_from_payload, recompute_snapshot
from workers.context import JobContext


def recompute_leaderboard(context: JobContext, session: Session) -> dict[str, Any]:
    payload = context.job.payload
    board = recompute_snapshot(
        session, payload["study_id"], options_from_payload(payload["options"])
    )
    if board is None:
        return {"skipped": "the study no longer exists"}
    return {"fingerprint": board.fingerprint, "compute_seconds": round(board.compute_seconds, 3)}
