"""Request and response bodies of the catalog: generators, prompt sets, reference sets, images and batches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.models.enums import (
    FamilySetting,
    PreprocessingMode,
)
from app.validation import MAX_ID, CleanJson, CleanModel, CleanText


class GeneratorFields(CleanModel):
    description: str = Field(default="", max_length=10_000)
    checkpoint: str | None = Field(default=None, max_length=500)
    guidance_scale: float | None = Field(default=None, ge=0)
    truncation: float | None = Field(default=None, ge=0)
    sampler: str | None = Field(default=None, max_length=200)
    steps: int | None = Field(default=None, ge=1, le=MAX_ID)
    resolution: str | None = Field(
        default=None, pattern=r"^[0-9]{1,6}x[0-9]{1,6}$", examples=["1024x1024"]
    )
    extra: dict[CleanText, CleanJson] = Field(
        default_factory=dict, description="free-form sampling settings"
    )
    family: str | None = Field(
        default=None,
        max_length=200,
        description="generators of one family sweep one sampling setting (quality-diversity plot)",
    )
    family_setting: FamilySetting | None = Field(
        default=None, description="the setting the family sweeps"
    )


class GeneratorCreate(GeneratorFields):
    name: str = Field(min_length=1, max_length=200)


class GeneratorUpdate(CleanModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    checkpoint: str | None = None
    guidance_scale: float | None = Field(default=None, ge=0)
    truncation: float | None = Field(default=None, ge=0)
    sampler: str | None = Field(default=None, max_length=200)
    steps: int | None = Field(default=None, ge=1, le=MAX_ID)
    resolution: str | None = Field(default=None, pattern=r"^[0-9]{1,6}x[0-9]{1,6}$")
    extra: dict[CleanText, CleanJson] | None = None
    family: str | None = Field(default=None, max_length=200)
    family_setting: FamilySetting | None = None


class GeneratorOut(GeneratorFields):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    n_images: int = 0


class PromptIn(CleanModel):
    external_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=100_000)
    category: str | None = Field(default=None, max_length=200)


class PromptSetCreate(CleanModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    prompts: list[PromptIn] = Field(min_length=1)


class PromptOut(PromptIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class PromptSetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    created_at: datetime
    prompts: list[PromptOut]


class ReferenceSetCreate(CleanModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    preprocessing_mode: PreprocessingMode = Field(
        default=PreprocessingMode.clean,
        description=(
            "how every image compared with this set is resized for the FID Inception, as in "
            "clean-fid: clean (antialiased PIL bicubic), legacy_pytorch (pytorch-fid's), "
            "legacy_tensorflow (the original TF FID code's)"
        ),
    )


class ReferenceSetOut(ReferenceSetCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    source: Literal["images", "statistics"] = "images"
    statistics_n: int | None = None
    statistics_dimension: int | None = None
    statistics_has_features: bool | None = None

    @model_validator(mode="after")
    def _source(self):
        if self.statistics_dimension is not None:
            self.source = "statistics"
        return self


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    generator_id: int | None
    reference_set_id: int | None
    status: str
    n_images: int
    n_new_files: int
    total_bytes: int
    created_at: datetime
    jobs_enqueued: int = 0


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    public_id: str
    sha256: str
    width: int
    height: int
    byte_size: int
    format: str
    prompt_id: int | None
    batch_id: int
    created_at: datetime
    url: str = ""


class KnownImagesQuery(CleanModel):
    # The pattern is in the schema, so any client (and the API fuzz test) knows what is valid.
    sha256: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]] = Field(
        max_length=10_000,
        description="SHA-256 hex digests of image files (the file bytes as uploaded)",
    )

    @field_validator("sha256")
    @classmethod
    def _lower_case(cls, values: list[str]) -> list[str]:
        return [v.lower() for v in values]


class KnownImagesOut(BaseModel):
    known: list[str] = Field(description="the given digests this owner already holds")
