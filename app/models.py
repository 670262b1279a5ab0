"""SQLAlchemy tables. Every change here needs an Alembic migration (migrations/versions)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    # 128 random bits: opaque, non-sequential, unguessable (blinding and enumeration).
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
        datetime: UTCDateTime(),
    }


def _created() -> Mapped[datetime]:
    return mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.current_timestamp()
    )


class Generator(Base):
    """A model under evaluation and the sampling settings its scores must be reported with."""

    __tablename__ = "generators"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    checkpoint: Mapped[str | None] = mapped_column(String(500))
    guidance_scale: Mapped[float | None] = mapped_column(Float)
    truncation: Mapped[float | None] = mapped_column(Float)
    sampler: Mapped[str | None] = mapped_column(String(200))
    steps: Mapped[int | None] = mapped_column(Integer)
    resolution: Mapped[str | None] = mapped_column(String(50))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()

    images: Mapped[list[Image]] = relationship(back_populates="generator")


class PromptSet(Base):
    __tablename__ = "prompt_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()

    prompts: Mapped[list[Prompt]] = relationship(back_populates="prompt_set", order_by="Prompt.id")


class Prompt(Base):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("prompt_set_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_sets.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(200))

    prompt_set: Mapped[PromptSet] = relationship(back_populates="prompts")


class ReferenceSet(Base):
    """Real images that FID/KID/PRDC compare against."""

    __tablename__ = "reference_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()

    images: Mapped[list[Image]] = relationship(back_populates="reference_set")


class Batch(Base):
    """One upload. All-or-nothing: a batch row exists only for an upload that was fully stored."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint(
            "(generator_id IS NULL) <> (reference_set_id IS NULL)", name="batch_one_owner"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    generator_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    reference_set_id: Mapped[int | None] = mapped_column(ForeignKey("reference_sets.id"))
    status: Mapped[str] = mapped_column(String(20), default="stored")
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    n_new_files: Mapped[int] = mapped_column(Integer, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _created()


class Image(Base):
    """An image as the system knows it: opaque public id, owner, prompt, content hash, size."""

    __tablename__ = "images"
    __table_args__ = (
        CheckConstraint(
            "(generator_id IS NULL) <> (reference_set_id IS NULL)", name="image_one_owner"
        ),
        Index("ix_images_generator_prompt", "generator_id", "prompt_id"),
        Index("ix_images_reference_set", "reference_set_id"),
        Index("ix_images_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    generator_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    reference_set_id: Mapped[int | None] = mapped_column(ForeignKey("reference_sets.id"))
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()

    generator: Mapped[Generator | None] = relationship(back_populates="images")
    reference_set: Mapped[ReferenceSet | None] = relationship(back_populates="images")
    prompt: Mapped[Prompt | None] = relationship()


class ApiKey(Base):
    """Admin API key; only its SHA-256 is stored (keys are 256-bit random, so no slow hash needed)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="admin")
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


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
    status: Mapped[str] = mapped_column(String(20), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = _created()
    lease_until: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(200))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
