"""The kinds, statuses and choices stored in the tables and sent in the JSON, defined once.

Each is a StrEnum: a member compares equal to its string, so the stored values, the JSON and
the templates are unchanged (`study.kind == StudyKind.pairwise` holds for a row read back as
"pairwise"). A member's name is its value: drivers that dump an Enum by name store the same text.
"""

from __future__ import annotations

from enum import StrEnum


class StudyKind(StrEnum):
    """What an annotator answers: a pair of images, a 1–5 rating, or flags on one image."""

    pairwise = "pairwise"
    rating = "rating"
    flag = "flag"


class StudyStatus(StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"


class PairPolicy(StrEnum):
    """How a pairwise study picks the next generator pair (app/services/studies/study/pair_policy.py)."""

    uniform = "uniform"
    active = "active"


class CheckKind(StrEnum):
    """An attention check: a degraded copy of a good image, or a repeat of an earlier task."""

    degraded = "degraded"
    repeat = "repeat"


class RenditionVariant(StrEnum):
    """A study's copy of an image: as shown, or degraded for an attention check."""

    clean = "clean"
    degraded = "degraded"


class ExclusionAction(StrEnum):
    """An administrator's override of the exclusion rule for one annotator."""

    exclude = "exclude"
    reinstate = "reinstate"
    clear = "clear"


class PreprocessingMode(StrEnum):
    """clean-fid's preprocessing modes for the FID Inception (workers/extractors/inception.py)."""

    clean = "clean"
    legacy_pytorch = "legacy_pytorch"
    legacy_tensorflow = "legacy_tensorflow"


class FamilySetting(StrEnum):
    """The sampling setting a family of generators sweeps (the quality-diversity trade-off)."""

    guidance_scale = "guidance_scale"
    truncation = "truncation"
    steps = "steps"


class JobKind(StrEnum):
    """What a job does; the worker's handler registry is keyed by these."""

    extract_features = "extract_features"
    compute_metrics = "compute_metrics"
    recompute_leaderboard = "recompute_leaderboard"
    probe = "probe"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


PENDING_STATUSES = (JobStatus.queued, JobStatus.running)
