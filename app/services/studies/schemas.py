"""Request and response bodies of studies, invites and annotators (the JSON API and the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models import DEFAULT_FLAG_OPTIONS
from app.models.enums import ExclusionAction, PairPolicy, StudyKind
from app.validation import MAX_ID, CleanModel

DEFAULT_DISPLAY_SIZE = 1024


# Documents what _distinct_options accepts: no space at either end (so strip() keeps it
# distinct and non-empty) and no control character.
FlagOption = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        json_schema_extra={
            "pattern": r"^[^\s\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f])?$"
        },
    ),
]


ASPECT_KEY = r"^[a-z][a-z0-9_]{0,31}$"
MAX_ASPECTS = 5


class Aspect(CleanModel):
    """One of several questions asked about every task (answered with its own keys)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        pattern=ASPECT_KEY, description="short slug stored with each vote, e.g. 'realism'"
    )
    question: str = Field(min_length=1, max_length=500, description="shown above its answers")

    @field_validator("question")
    @classmethod
    def _question_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an aspect's question cannot be blank")
        return value.strip()


def check_aspects(value: list[Aspect] | None) -> list[Aspect] | None:
    """1 to MAX_ASPECTS aspects with distinct keys; an empty list means none (one question)."""
    if not value:
        return None
    if len(value) > MAX_ASPECTS:
        raise ValueError(f"at most {MAX_ASPECTS} aspects")
    keys = [aspect.key for aspect in value]
    if len(set(keys)) != len(keys):
        raise ValueError("aspect keys must be distinct")
    return value


class StudyFields(CleanModel):
    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, min_length=1, description="shown above each task")
    instructions: str | None = Field(default=None, description="shown once on the consent page")
    raters_per_item: int = Field(default=3, ge=1, le=100)
    attention_check_rate: float = Field(default=0.1, ge=0, le=1)
    flag_options: list[FlagOption] = Field(
        default_factory=lambda: list(DEFAULT_FLAG_OPTIONS), json_schema_extra={"uniqueItems": True}
    )
    pair_policy: PairPolicy = PairPolicy.uniform
    aspects: list[Aspect] | None = Field(
        default=None,
        max_length=MAX_ASPECTS,
        description="several questions per task (pairwise and rating studies), each answered "
        "and stored as its own vote; omitted or empty: the one `question`",
    )
    is_public: bool = False
    max_tasks_per_annotator: int | None = Field(default=None, ge=1, le=MAX_ID)
    display_size: int = Field(
        default=DEFAULT_DISPLAY_SIZE,
        ge=64,
        le=4096,
        description="longest side (px) of the one box every served image is fitted into",
    )
    reference_set: str | int | None = Field(
        default=None,
        description="real images for the clean side of attention checks (name or id); without "
        "one, checks use images the study's own votes rank well",
    )
    min_attention_checks: int = Field(
        default=5, ge=1, description="checks of a kind an annotator answers before they count"
    )
    min_attention_accuracy: float | None = Field(default=0.8, ge=0, le=1)
    min_repeat_consistency: float | None = Field(default=0.5, ge=0, le=1)
    min_loo_agreement: float | None = Field(
        default=0.35,
        ge=0,
        le=1,
        description="default 0.35 (chance on a 4-way answer is about 0.25); none for rating "
        "studies",
    )
    min_median_response_s: float | None = Field(default=1.0, ge=0)
    max_vote_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="largest share of the study's planned votes (items x raters) one annotator "
        "may cast",
    )

    @field_validator("flag_options")
    @classmethod
    def _distinct_options(cls, value: list[str]) -> list[str]:
        cleaned = [option.strip() for option in value]
        if any(not option for option in cleaned) or len(set(cleaned)) != len(cleaned):
            raise ValueError("flag_options must be distinct, non-empty strings")
        return cleaned

    _aspects = field_validator("aspects")(check_aspects)


class StudyCreate(StudyFields):
    name: str = Field(min_length=1, max_length=200)
    kind: StudyKind
    generators: list[str | int] = Field(
        min_length=1, description="generator names or ids (at least two for pairwise)"
    )
    prompt_set: str | int | None = Field(
        default=None, description="restrict items to this prompt set (name or id)"
    )


class StudyUpdate(CleanModel):
    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, min_length=1)
    instructions: str | None = None
    raters_per_item: int | None = Field(default=None, ge=1, le=100)
    attention_check_rate: float | None = Field(default=None, ge=0, le=1)
    flag_options: list[FlagOption] | None = Field(
        default=None, json_schema_extra={"uniqueItems": True}
    )
    pair_policy: PairPolicy | None = None
    aspects: list[Aspect] | None = Field(
        default=None, max_length=MAX_ASPECTS, description="null or []: the one question"
    )
    is_public: bool | None = None
    max_tasks_per_annotator: int | None = Field(default=None, ge=1, le=MAX_ID)
    display_size: int | None = Field(default=None, ge=64, le=4096)

    _aspects = field_validator("aspects")(check_aspects)
    reference_set: str | int | None = None
    min_attention_checks: int | None = Field(default=None, ge=1)
    min_attention_accuracy: float | None = Field(default=None, ge=0, le=1)
    min_repeat_consistency: float | None = Field(default=None, ge=0, le=1)
    min_loo_agreement: float | None = Field(default=None, ge=0, le=1)
    min_median_response_s: float | None = Field(default=None, ge=0)
    max_vote_share: float | None = Field(default=None, gt=0, le=1)


class StudyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    public_id: str
    name: str
    kind: str
    question: str
    instructions: str
    raters_per_item: int
    attention_check_rate: float
    flag_options: list[str]
    aspects: list[Aspect] | None
    pair_policy: str
    status: str
    is_public: bool
    max_tasks_per_annotator: int | None
    display_size: int
    display_width: int | None = Field(description="the display box, fixed when the study opens")
    display_height: int | None
    prompt_set_id: int | None
    reference_set_id: int | None
    min_attention_checks: int
    min_attention_accuracy: float | None
    min_repeat_consistency: float | None
    min_loo_agreement: float | None
    min_median_response_s: float | None
    max_vote_share: float
    generators: list[str]
    created_at: datetime
    n_items: int
    study_url: str = Field(description="where invited annotators land (after their invite link)")


class InviteRequest(BaseModel):
    count: int = Field(ge=1, le=10_000)
    expires_in_days: float | None = Field(
        default=None, gt=0, description="omitted: ARENA_INVITE_TTL_DAYS; null: never expires"
    )
    max_uses: int | None = Field(
        default=None, ge=1, description="openings per link; omitted: ARENA_INVITE_MAX_USES"
    )


class InviteOut(BaseModel):
    handle: str
    url: str = Field(description="the invite link; shown once, only its token's hash is stored")


class AnnotatorOut(BaseModel):
    handle: str
    is_simulated: bool
    excluded: bool = Field(description="left out of every figure (rule or override)")
    excluded_reasons: list[str]
    automatic_reasons: list[str] = Field(description="what the study's rule says")
    override: ExclusionAction | None
    override_note: str | None
    override_at: datetime | None
    consented_at: datetime | None
    created_at: datetime
    figures: dict = Field(description="votes, agreement, attention checks, response time")


class ExclusionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: ExclusionAction = Field(
        description="exclude or reinstate whatever the rule says; clear: the rule decides"
    )
    note: str | None = Field(default=None, max_length=500)


class InviteStatusOut(BaseModel):
    handle: str
    status: str
    uses: int
    max_uses: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
