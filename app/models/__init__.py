"""SQLAlchemy tables, one module per area. Every change needs an Alembic migration."""

from app.models.base import Base, JsonType, UTCDateTime, new_public_id, utcnow
from app.models.catalog import Batch, Generator, Image, Prompt, PromptSet, ReferenceSet
from app.models.ops import ApiKey, Job

__all__ = [
    "ApiKey",
    "Base",
    "Batch",
    "Generator",
    "Image",
    "Job",
    "JsonType",
    "Prompt",
    "PromptSet",
    "ReferenceSet",
    "UTCDateTime",
    "new_public_id",
    "utcnow",
]
