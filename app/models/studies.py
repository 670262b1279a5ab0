"""Human evaluation: studies, annotators, assignments (tasks handed out) and votes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_column, new_public_id
from app.models.catalog import Generator, Image
from app.models.enums import PairPolicy, StudyStatus

DEFAULT_FLAG_OPTIONS = [
    "anatomy",
    "text rendering",
    "object count",
    "artifacts",
    "ignores prompt",
    "unsafe",
]

study_generators = Table(
    "study_generators",
    Base.metadata,
    Column("study_id", ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True),
    Column("generator_id", ForeignKey("generators.id"), primary_key=True),
)


class Study(Base):
    """A question put to annotators about a pool of generators (pairwise, rating or flag)."""

    __tablename__ = "studies"
    __table_args__ = (
        CheckConstraint("kind IN ('pairwise', 'rating', 'flag')", name="study_kind_known"),
        CheckConstraint("status IN ('draft', 'open', 'closed')", name="study_status_known"),
        CheckConstraint("pair_policy IN ('uniform', 'active')", name="study_pair_policy_known"),
        CheckConstraint("raters_per_item >= 1", name="study_raters_positive"),
        CheckConstraint(
            "attention_check_rate >= 0 AND attention_check_rate <= 1",
            name="study_check_rate_unit",
        ),
        CheckConstraint("min_attention_checks >= 1", name="study_min_checks_positive"),
        CheckConstraint("max_vote_share > 0 AND max_vote_share <= 1", name="study_vote_share_unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    question: Mapped[str] = mapped_column(Text)
    instructions: Mapped[str] = mapped_column(Text, default="")
    raters_per_item: Mapped[int] = mapped_column(Integer, default=3)
    attention_check_rate: Mapped[float] = mapped_column(Float, default=0.1)
    flag_options: Mapped[list[Any]] = mapped_column(default=lambda: list(DEFAULT_FLAG_OPTIONS))
    # Several questions per task: [{"key": slug, "question": text}, ...], each answered and
    # stored as its own vote (Vote.aspect); None: the one `question` (pairwise and rating only).
    aspects: Mapped[list[Any] | None] = mapped_column()
    pair_policy: Mapped[str] = mapped_column(String(20), default=PairPolicy.uniform)
    status: Mapped[str] = mapped_column(String(20), default=StudyStatus.draft)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Optional cap so one fast annotator does not take every item of a study.
    max_tasks_per_annotator: Mapped[int | None] = mapped_column(Integer)
    # Display geometry: every image the study serves is fitted into one box of display_width x
    # display_height (longest side at most display_size), fixed when the study first opens.
    display_size: Mapped[int] = mapped_column(Integer, default=1024, server_default="1024")
    display_width: Mapped[int | None] = mapped_column(Integer)
    display_height: Mapped[int | None] = mapped_column(Integer)
    prompt_set_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_sets.id"))
    # Real images for the clean side of degraded attention checks (optional).
    reference_set_id: Mapped[int | None] = mapped_column(ForeignKey("reference_sets.id"))
    # The exclusion rule (see app.stats.agreement.ExclusionRule); None disables a criterion.
    # The defaults are the request schema's (StudyCreate): a column default here would turn an
    # explicit None ("disabled") back into the default on INSERT.
    min_attention_checks: Mapped[int] = mapped_column(Integer, default=5)
    min_attention_accuracy: Mapped[float | None] = mapped_column(Float)
    min_repeat_consistency: Mapped[float | None] = mapped_column(Float)
    min_loo_agreement: Mapped[float | None] = mapped_column(Float)
    min_median_response_s: Mapped[float | None] = mapped_column(Float)
    # No annotator may cast more than this share of the study's planned votes.
    max_vote_share: Mapped[float] = mapped_column(Float, default=0.2)
    created_at: Mapped[datetime] = created_column()
    # The pool's version: bumped whenever an image joins one of the study's generators (see
    # app/services/studies/slots.py), so per-process item caches and the open-slot table follow it
    # without aggregating over the pool on every request. slots_version: the pool version the
    # study's open slots were last made for.
    items_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    slots_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    generators: Mapped[list[Generator]] = relationship(
        secondary=study_generators, order_by="Generator.id"
    )

    @property
    def aspect_keys(self) -> list[str]:
        """The aspects' keys in order; [] for a single-question study."""
        return [aspect["key"] for aspect in self.aspects or []]


class Annotator(Base):
    """One invited person (or simulated rater) in one study, known only by an opaque handle."""

    __tablename__ = "annotators"
    __table_args__ = (
        CheckConstraint(
            "exclusion_override IS NULL OR exclusion_override IN ('exclude', 'reinstate')",
            name="annotator_override_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    handle: Mapped[str] = mapped_column(String(40), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    # An administrator's decision over the automatic rule: "exclude", "reinstate" or None (rule).
    exclusion_override: Mapped[str | None] = mapped_column(String(10))
    exclusion_note: Mapped[str | None] = mapped_column(Text)
    exclusion_set_at: Mapped[datetime | None] = mapped_column()
    consented_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_column()
    # The invite link's lifecycle: it opens until it expires, is used up or is revoked (a revoked
    # invite also ends the sessions it started). NULL expiry or max_uses: no such limit.
    invite_expires_at: Mapped[datetime | None] = mapped_column()
    invite_max_uses: Mapped[int | None] = mapped_column(Integer)
    invite_uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    invite_revoked_at: Mapped[datetime | None] = mapped_column()
    # Maintained with every vote (never recounted on the vote path): all answers, and answers on
    # real items (not attention checks), for the progress bar and the per-annotator task cap.
    n_answered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    n_answered_real: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Also maintained on the vote and "can't judge" paths, so the task page's progress costs no
    # query: "can't judge" answers, the sum of answer times (each capped, for the time-left
    # estimate) and when the last answer was given (when the next task went on screen).
    n_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answer_ms_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_answer_at: Mapped[datetime | None] = mapped_column()

    study: Mapped[Study] = relationship()


class AnnotatorSession(Base):
    """One signed-in browser of an annotator. The cookie holds a random token; only its SHA-256
    is stored, so neither the cookie nor this table reveals a database id to the browser."""

    __tablename__ = "annotator_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = created_column()
    # The progress total shown to this browser, fixed when its first task is shown (answers so
    # far + the real items then open to the annotator + the attention checks expected among them).
    planned_total: Mapped[int | None] = mapped_column(Integer)

    annotator: Mapped[Annotator] = relationship()


class CheckImage(Base):
    """A heavily degraded copy of a pool image, served under its own opaque id (attention checks).

    The pixels are derived on request from the source's served copy (deterministic, seeded by
    this row's id), so nothing extra is stored in the media store.
    """

    __tablename__ = "check_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    source_image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), unique=True)
    created_at: Mapped[datetime] = created_column()


class Assignment(Base):
    """One task handed to one annotator, with the sides fixed by the server when it was issued.

    A live assignment holds a slot of its item: `item_key` names the item and `slot` is one of
    0..raters_per_item-1. The unique constraints make the reservation race-free on every backend:
    no item gets more slots than raters, and no annotator holds the same item twice. An expired,
    unanswered assignment gives its slot back (item_key and slot are cleared).
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("study_id", "item_key", "slot", name="uq_assignments_item_slot"),
        UniqueConstraint(
            "study_id", "annotator_id", "item_key", name="uq_assignments_annotator_item"
        ),
        Index("ix_assignments_annotator_open", "annotator_id", "answered_at"),
        Index("ix_assignments_study_expiry", "study_id", "answered_at", "expires_at"),
        # The claim's probes (slots.never_held): items the annotator held, items they skipped
        # (few rows have one).
        Index("ix_assignments_annotator_item", "annotator_id", "item_key"),
        Index(
            "ix_assignments_annotator_skipped",
            "annotator_id",
            "skipped_item_key",
            postgresql_where=text("skipped_item_key IS NOT NULL"),
            sqlite_where=text("skipped_item_key IS NOT NULL"),
        ),
        CheckConstraint(
            "check_kind IS NULL OR check_kind IN ('degraded', 'repeat')",
            name="assignment_check_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id"))
    image_left_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    image_right_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    generator_left_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    generator_right_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    generator_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    check_kind: Mapped[str | None] = mapped_column(String(20))
    expected_choice: Mapped[str | None] = mapped_column(String(20))
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
    # Degraded check: which side shows the degraded copy ("left", "right" or "single") and of what.
    degraded_side: Mapped[str | None] = mapped_column(String(10))
    check_image_id: Mapped[int | None] = mapped_column(ForeignKey("check_images.id"))
    item_key: Mapped[str | None] = mapped_column(String(100))
    slot: Mapped[int | None] = mapped_column(Integer)
    issued_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    # "Can't judge": closed without a vote (answered_at set, no vote row); the item's slot went
    # back to the pool, and skipped_item_key keeps this annotator from being shown it again.
    skipped_at: Mapped[datetime | None] = mapped_column()
    skipped_item_key: Mapped[str | None] = mapped_column(String(100))

    image_left: Mapped[Image | None] = relationship(foreign_keys=[image_left_id])
    image_right: Mapped[Image | None] = relationship(foreign_keys=[image_right_id])
    image: Mapped[Image | None] = relationship(foreign_keys=[image_id])
    check_image: Mapped[CheckImage | None] = relationship()
    # One vote, or one per aspect for a study with aspects.
    votes: Mapped[list[Vote]] = relationship(back_populates="assignment")


class StudySlot(Base):
    """One open slot of an item: a row exists exactly while the slot is neither held by a live
    assignment nor answered. Claiming a task deletes one row (FOR UPDATE SKIP LOCKED on
    PostgreSQL, one atomic statement on SQLite); an expired claim puts its row back.

    `position` orders the pool (a hash of the study and item, the same for the item's slots);
    gen_a < gen_b name a pairwise item's generators (gen_a alone for rating and flag items).
    """

    __tablename__ = "study_slots"
    __table_args__ = (
        UniqueConstraint("study_id", "item_key", "slot", name="uq_study_slots_item_slot"),
        # A claim's order, (position, slot), read straight off the index: the first free slot
        # is the first row that qualifies, with no sort over the rows before it.
        Index("ix_study_slots_order", "study_id", "position", "slot"),
        Index("ix_study_slots_pair", "study_id", "gen_a", "gen_b", "position", "slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(100))
    slot: Mapped[int] = mapped_column(Integer)
    prompt_id: Mapped[int | None] = mapped_column(Integer)
    gen_a: Mapped[int | None] = mapped_column(Integer)
    gen_b: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)


class Vote(Base):
    """One per assignment (one per assignment and aspect for a study with aspects), append-only.
    The winner is resolved from the stored sides."""

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("assignment_id", "aspect", name="uq_votes_assignment_aspect"),
        # NULLs are distinct in a unique constraint: a single-question vote is unique by itself.
        Index(
            "uq_votes_assignment_whole",
            "assignment_id",
            unique=True,
            sqlite_where=text("aspect IS NULL"),
            postgresql_where=text("aspect IS NULL"),
        ),
        Index("ix_votes_study_created", "study_id", "created_at"),
        CheckConstraint(
            "choice IS NULL OR choice IN ('left', 'right', 'tie', 'both_bad')",
            name="vote_choice_known",
        ),
        CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name="vote_rating_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    # The aspect's key (Study.aspects); None in a single-question study.
    aspect: Mapped[str | None] = mapped_column(String(32))
    choice: Mapped[str | None] = mapped_column(String(20))
    winner: Mapped[str | None] = mapped_column(String(20))
    rating: Mapped[int | None] = mapped_column(Integer)
    flags: Mapped[list[Any] | None] = mapped_column()
    server_ms: Mapped[int] = mapped_column(Integer)
    client_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()

    assignment: Mapped[Assignment] = relationship(back_populates="votes")
