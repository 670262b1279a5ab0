"""SQLAlchemy tables, one module per area. Every change needs an Alembic migration."""

from app.models.base import Base, JsonType, UTCDateTime, new_public_id, utcnow
from app.models.catalog import Batch, Generator, Image, Prompt, PromptSet, ReferenceSet
from app.models.features import Feature, FeatureFile, MetricResult
from app.models.ops import ApiKey, Job

__all__ = [
    "ApiKey",
    "Base",
    "Batch",
    "Feature",
    "FeatureFile",
    "Generator",
    "Image",
    "Job",
    "JsonType",
    "MetricResult",
    "Prompt",
    "PromptSet",
    "ReferenceSet",
    "UTCDateTime",
    "new_public_id",
    "utcnow",
]
