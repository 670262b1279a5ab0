"""Response bodies of the job queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    progress_done: int
    progress_total: int
    worker: str | None
    lease_until: datetime | None
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None
