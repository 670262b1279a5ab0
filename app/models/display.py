"""What annotators are shown: per-study renditions of images, and per-showing image tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_column


class Rendition(Base):
    """An image as one study serves it: fitted into the study's display box, RGB, one encoding.

    `variant` is "clean" or "degraded" (an attention-check copy). The bytes live in the media
    store under `sha256` (of the rendered bytes). Made when the study opens or the image is
    uploaded, so serving never renders.
    """

    __tablename__ = "renditions"
    __table_args__ = (
        UniqueConstraint("study_id", "image_id", "variant", name="uq_renditions_study_image"),
        CheckConstraint("variant IN ('clean', 'degraded')", name="rendition_variant_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()


class ImageToken(Base):
    """One showing of one image in one task: a random URL token, valid only for the annotator
    session it was issued to and only while its assignment is open."""

    __tablename__ = "image_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("annotator_sessions.id", ondelete="CASCADE"), index=True
    )
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    rendition_id: Mapped[int] = mapped_column(ForeignKey("renditions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_column()

    rendition: Mapped[Rendition] = relationship()
