"""Operations: admin API keys, the worker job queue and computed leaderboards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_column
from app.models.enums import JobStatus


class ApiKey(Base):
    """Admin API key; only its SHA-256 is stored (keys are 256-bit random, so no slow hash needed)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="admin")
    created_at: Mapped[datetime] = created_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class ResearcherSession(Base):
    """A signed-in researcher's browser: the cookie holds a random token, this row its SHA-256
    and the admin key it was signed in with (the key's row id never reaches the browser)."""

    __tablename__ = "researcher_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = created_column()


class ScopeKind(StrEnum):
    """What a job works on (the text before the first colon of its stored scope)."""

    generator = "generator"  # extraction: one generator's images
    reference_set = "reference_set"  # extraction: one reference set's images
    metrics = "metrics"  # metrics: one generator against one reference set (or none)
    leaderboard = "leaderboard"  # a study's leaderboard recomputation


@dataclass(frozen=True)
class JobScope:
    """A job's scope, typed; stored as text ("generator:7", "metrics:7:3", "metrics:7:None",
    "leaderboard:5"), made and read only here."""

    kind: ScopeKind
    id: int | None
    reference_set_id: int | None = None  # metrics scopes only

    def __str__(self) -> str:
        if self.kind == ScopeKind.metrics:
            return f"{self.kind}:{self.id}:{self.reference_set_id}"
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> JobScope:
        kind, _, rest = text.partition(":")
        parts = rest.split(":")
        try:
            ids = [None if p == "None" else int(p) for p in parts]
            scope = cls(ScopeKind(kind), *ids)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a job scope: {text!r}") from exc
        if str(scope) != text:
            raise ValueError(f"not a job scope: {text!r}")
        return scope

    @classmethod
    def owner(cls, generator_id: int | None, reference_set_id: int | None) -> JobScope:
        """An extraction job's: the images of one generator or one reference set."""
        if generator_id:
            return cls(ScopeKind.generator, generator_id)
        return cls(ScopeKind.reference_set, reference_set_id)

    @classmethod
    def metrics_of(cls, generator_id: int, reference_set_id: int | None) -> JobScope:
        return cls(ScopeKind.metrics, generator_id, reference_set_id)

    @classmethod
    def leaderboard_of(cls, study_id: int) -> JobScope:
        return cls(ScopeKind.leaderboard, study_id)

    @staticmethod
    def like_metrics_of(generator_id: int) -> str:
        """A LIKE pattern for a generator's metrics scopes, against any reference set."""
        return f"{ScopeKind.metrics}:{generator_id}:%"

    @staticmethod
    def like_any(kind: ScopeKind) -> str:
        return f"{kind}:%"


def owner_scope(generator_id: int | None, reference_set_id: int | None) -> str:
    """The stored scope of an extraction job (JobScope.owner)."""
    return str(JobScope.owner(generator_id, reference_set_id))


def metrics_scope(generator_id: int, reference_set_id: int | None) -> str:
    """The stored scope of a metrics job (JobScope.metrics_of)."""
    return str(JobScope.metrics_of(generator_id, reference_set_id))


def leaderboard_scope(study_id: int) -> str:
    """The stored scope of a leaderboard recomputation (not one the leaderboard's fingerprint
    counts)."""
    return str(JobScope.leaderboard_of(study_id))


class Job(Base):
    """A unit of worker work, claimed atomically and held under a renewable lease."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "run_after"),
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="job_status_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    # Same key = same work: enqueueing twice is a no-op, which keeps uploads and retries idempotent.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the job works on ("generator:3", "reference_set:1"): lets a metrics job wait for the
    # extraction of exactly its inputs.
    scope: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = created_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(200))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class LeaderboardSnapshot(Base):
    """The last computed leaderboard of a study for one set of reader options.

    A web process that starts (or another one behind the same database) serves it at once when
    its fingerprint still matches, instead of recomputing seconds of bootstrap. The payload is
    JSON text, not JSONB: JSONB reorders keys and refuses NaN.
    """

    __tablename__ = "leaderboard_snapshots"
    __table_args__ = (UniqueConstraint("study_id", "options_key", name="uq_snapshot_options"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    # The reader options and the software version that computed it (see leaderboard_snapshots).
    options_key: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class RateLimitCounter(Base):
    """A fixed-window request counter shared by every process behind one database.

    Used for rate limits when several web processes run without Redis (ARENA_REDIS_URL).
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()
