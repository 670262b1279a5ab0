"""What is evaluated: generators, prompts, reference sets, batches and images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_column, new_public_id
from app.models.enums import FamilySetting, PreprocessingMode

# Sampling settings a family of generators can sweep (the quality-diversity trade-off).
FAMILY_SETTINGS = tuple(FamilySetting)
# clean-fid's preprocessing modes for the FID Inception (see workers/extractors/inception.py).
PREPROCESSING_MODES = tuple(PreprocessingMode)


class Generator(Base):
    """A model under evaluation and the sampling settings its scores must be reported with.

    Generators sharing a `family` differ in one swept sampling setting (`family_setting`):
    the same model at several guidance scales, truncations or step counts.
    """

    __tablename__ = "generators"
    __table_args__ = (
        CheckConstraint(
            "family_setting IS NULL OR family_setting IN ('guidance_scale', 'truncation', 'steps')",
            name="generator_family_setting_known",
        ),
        Index("ix_generators_family", "family"),
    )

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
    family: Mapped[str | None] = mapped_column(String(200))
    family_setting: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = created_column()

    images: Mapped[list[Image]] = relationship(back_populates="generator")


class PromptSet(Base):
    __tablename__ = "prompt_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_column()

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
    """Real images that FID/KID/PRDC compare against, or their imported Inception statistics.

    `preprocessing_mode` (clean-fid's clean, legacy_pytorch or legacy_tensorflow) is how every
    image compared with this set is resized: a paper's or a dataset's statistics are only
    comparable in the mode they were made with. A set imported from an .npz (pytorch-fid /
    clean-fid layout) keeps the file under the feature cache (`statistics_path`, relative).
    """

    __tablename__ = "reference_sets"
    __table_args__ = (
        CheckConstraint(
            "preprocessing_mode IN ('clean', 'legacy_pytorch', 'legacy_tensorflow')",
            name="reference_set_mode_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    preprocessing_mode: Mapped[str] = mapped_column(
        String(30), default=PreprocessingMode.clean, server_default="clean"
    )
    statistics_path: Mapped[str | None] = mapped_column(String(500))
    statistics_sha256: Mapped[str | None] = mapped_column(String(64))
    statistics_n: Mapped[int | None] = mapped_column(Integer)
    statistics_dimension: Mapped[int | None] = mapped_column(Integer)
    statistics_has_features: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = created_column()

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
    created_at: Mapped[datetime] = created_column()


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
    # Appearance covariates for controlled Bradley-Terry (app.imaging.appearance), in [0, 1];
    # NULL for images stored before revision 0013 until `arena media covariates` fills them.
    brightness: Mapped[float | None] = mapped_column(Float)
    saturation: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = created_column()

    generator: Mapped[Generator | None] = relationship(back_populates="images")
    reference_set: Mapped[ReferenceSet | None] = relationship(back_populates="images")
    prompt: Mapped[Prompt | None] = relationship()
