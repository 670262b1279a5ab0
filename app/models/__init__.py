"""SQLAlchemy tables, one module per area. Every change needs an Alembic migration."""

from app.models.base import Base, JsonType, UTCDateTime, new_public_id, utcnow
from app.models.catalog import Batch, Generator, Image, Prompt, PromptSet, ReferenceSet
from app.models.display import ImageToken, Rendition
from app.models.features import Feature, FeatureFile, MetricResult
from app.models.ops import ApiKey, Job, LeaderboardSnapshot, RateLimitCounter, ResearcherSession
from app.models.studies import (
    DEFAULT_FLAG_OPTIONS,
    Annotator,
    AnnotatorSession,
    Assignment,
    CheckImage,
    Study,
    StudySlot,
    Vote,
    study_generators,
)

__all__ = [
    "DEFAULT_FLAG_OPTIONS",
    "Annotator",
    "AnnotatorSession",
    "ApiKey",
    "Assignment",
    "Base",
    "Batch",
    "CheckImage",
    "Feature",
    "FeatureFile",
    "Generator",
    "Image",
    "ImageToken",
    "Job",
    "JsonType",
    "LeaderboardSnapshot",
    "MetricResult",
    "Prompt",
    "PromptSet",
    "RateLimitCounter",
    "ReferenceSet",
    "Rendition",
    "ResearcherSession",
    "Study",
    "StudySlot",
    "UTCDateTime",
    "Vote",
    "new_public_id",
    "study_generators",
    "utcnow",
]
