"""Worker outputs: the feature cache (vectors in .npy files, indexed here) and metric results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_column


class FeatureFile(Base):
    """One .npy matrix of feature rows written by one extraction job (path relative to the cache)."""

    __tablename__ = "feature_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    extractor: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500), unique=True)
    n_rows: Mapped[int] = mapped_column(Integer)
    dimension: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()


class Feature(Base):
    """(content sha256, extractor name:version) → a row of a feature file; never recomputed."""

    __tablename__ = "features"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    extractor: Mapped[str] = mapped_column(String(200), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("feature_files.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)


class MetricResult(Base):
    """One automatic metric for one generator against one reference set (or none, e.g. CLIP score)."""

    __tablename__ = "metric_results"
    __table_args__ = (
        UniqueConstraint("generator_id", "reference_set_id", "metric", name="uq_metric_scope"),
        Index("ix_metric_results_generator", "generator_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    generator_id: Mapped[int] = mapped_column(ForeignKey("generators.id", ondelete="CASCADE"))
    reference_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("reference_sets.id", ondelete="CASCADE")
    )
    metric: Mapped[str] = mapped_column(String(50))
    # ok: value is real; unavailable: the network has no weights (reason says which).
    status: Mapped[str] = mapped_column(String(20), default="ok")
    value: Mapped[float | None] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n_gen: Mapped[int | None] = mapped_column(Integer)
    n_real: Mapped[int | None] = mapped_column(Integer)
    extractor: Mapped[str | None] = mapped_column(String(200))
    preprocessing: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[datetime] = created_column()
