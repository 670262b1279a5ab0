"""The metric catalog: one spec per automatic metric, read by every consumer.

The metrics job, the leaderboard's metric cells, number formatting, the report's pillars, the
exports and `arena metrics` all take names, labels, directions and digits from here, so a new
metric is a spec below plus its computation (app/metrics/<name>.py and its family in
workers/metric_job.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """What every consumer needs to know about one metric."""

    name: str  # the key in metric_result rows, exports and the JSON leaderboard
    label: str  # how the page and the report name it
    lower_is_better: bool
    needs_reference: bool  # compares against real images (so depends on the reference set)
    extractor: str  # the feature extractor whose features it reduces
    digits: int  # decimals when no uncertainty says otherwise
    family: str  # metrics one computation yields together (`arena metrics --metrics` names)
    pillar: str  # the report section: "quality" or "adherence"

    @property
    def direction(self) -> str:
        """'asc' when lower is better (the sort order that puts the best first), else 'desc'."""
        return "asc" if self.lower_is_better else "desc"

    @property
    def arrow(self) -> str:
        return "↓" if self.lower_is_better else "↑"


def _prdc(name: str) -> MetricSpec:
    return MetricSpec(name, name, False, True, "inception-fid", 3, "prdc", "quality")


# The leaderboard's column order.
CATALOG: tuple[MetricSpec, ...] = (
    MetricSpec("fid", "FID", True, True, "inception-fid", 2, "fid", "quality"),
    MetricSpec("fid_infinity", "FID∞", True, True, "inception-fid", 2, "fid_infinity", "quality"),
    MetricSpec("fd_dinov2", "FD-DINOv2", True, True, "dinov2", 1, "fd_dinov2", "quality"),
    MetricSpec("kid", "KID", True, True, "inception-fid", 4, "kid", "quality"),
    MetricSpec("inception_score", "IS", False, False, "inception-logits", 2, "is", "quality"),
    MetricSpec("clip_score", "CLIP score", False, False, "clip", 2, "clip_score", "adherence"),
    MetricSpec("cmmd", "CMMD", True, True, "clip", 3, "cmmd", "adherence"),
    _prdc("precision"),
    _prdc("recall"),
    _prdc("density"),
    _prdc("coverage"),
    MetricSpec("diversity", "diversity", True, False, "clip", 3, "diversity", "quality"),
)
SPECS: dict[str, MetricSpec] = {spec.name: spec for spec in CATALOG}

METRICS: tuple[str, ...] = tuple(spec.name for spec in CATALOG)
METRIC_LABELS: dict[str, str] = {spec.name: spec.label for spec in CATALOG}
LOWER_IS_BETTER: frozenset[str] = frozenset(s.name for s in CATALOG if s.lower_is_better)
REFERENCE_METRICS: frozenset[str] = frozenset(s.name for s in CATALOG if s.needs_reference)
# Numbers made from Inception features carry the preprocessing mode they were made in.
INCEPTION_METRICS: frozenset[str] = frozenset(
    s.name for s in CATALOG if s.extractor.startswith("inception")
)
DIGITS: dict[str, int] = {spec.name: spec.digits for spec in CATALOG}


def family(name: str) -> tuple[str, ...]:
    """The metrics of one family, in catalog order ('prdc' -> precision, recall, …)."""
    members = tuple(s.name for s in CATALOG if s.family == name)
    if not members:
        raise KeyError(f"no metric family {name!r}")
    return members


def pillar(name: str) -> tuple[str, ...]:
    """The metrics of one report pillar ('quality' or 'adherence'), in catalog order."""
    return tuple(s.name for s in CATALOG if s.pillar == name)
