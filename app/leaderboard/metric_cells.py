"""The automatic-metric side of the leaderboard: one cell per (generator, metric), with its reason.

For the study's generators and one reference set, each metric cell carries the stored
MetricResult (value, std, CI, n, extractor, preprocessing, parameters, warnings) or says why there
is no number: "unavailable: <reason>" (a network without weights, too few images), "waiting: N
jobs queued" (extraction or metric jobs still pending), or "not computed" (nothing queued).
Reference-free metrics (CLIP score, IS, diversity) are stored per job scope, so a reference
set's rows are preferred and rows without a reference set fill the gaps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.metrics.catalog import LOWER_IS_BETTER, METRICS, REFERENCE_METRICS
from app.models import Generator, Image, Job, MetricResult, ReferenceSet
from app.models.enums import PENDING_STATUSES, JobKind
from app.models.ops import metrics_scope, owner_scope
from app.validation import is_row_id

PENDING = PENDING_STATUSES


@dataclass
class MetricCell:
    """One automatic metric of one generator, or the reason it has no number."""

    metric: str
    state: str  # ok | unavailable | waiting | missing
    value: float | None = None
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_gen: int | None = None
    n_real: int | None = None
    extractor: str | None = None
    preprocessing: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None
    pending_jobs: int = 0
    reference_set_id: int | None = None
    computed_at: str | None = None

    @property
    def note(self) -> str:
        """What a reader sees instead of (or next to) the number."""
        if self.state == "unavailable":
            return f"unavailable: {self.reason or 'no reason recorded'}"
        if self.state == "waiting":
            return f"waiting: {_jobs(self.pending_jobs)} queued"
        if self.state == "missing":
            return "not computed: no metrics job has run for this generator and reference set"
        if self.pending_jobs:
            return f"updating: {_jobs(self.pending_jobs)} queued"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "lower_is_better": self.metric in LOWER_IS_BETTER,
            "note": self.note,
        }


def _jobs(count: int) -> str:
    return f"{count} job" + ("" if count == 1 else "s")


def _warning_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and "message" in item:
        return str(item["message"])
    return str(item)


def cell_from_result(result: MetricResult, pending: int) -> MetricCell:
    ok = result.status == "ok" and result.value is not None
    return MetricCell(
        metric=result.metric,
        state="ok" if ok else "unavailable",
        value=result.value if ok else None,
        std=result.std if ok else None,
        ci_low=result.ci_low if ok else None,
        ci_high=result.ci_high if ok else None,
        n_gen=result.n_gen,
        n_real=result.n_real,
        extractor=result.extractor,
        preprocessing=result.preprocessing,
        parameters=dict(result.parameters or {}),
        warnings=[_warning_text(w) for w in (result.warnings or [])],
        reason=None if ok else (result.reason or f"status {result.status}"),
        pending_jobs=pending,
        reference_set_id=result.reference_set_id,
        computed_at=result.computed_at.isoformat() if result.computed_at else None,
    )


def choose_reference_set(
    session: Session, generator_ids: list[int], requested: int | str | None
) -> ReferenceSet | None:
    """The requested reference set, else the one with the most ok results for these generators
    (newest on a tie), else the newest reference set, else None."""
    if requested is not None and str(requested) != "":
        ref = str(requested)
        row = (
            session.get(ReferenceSet, int(ref))
            if is_row_id(ref)
            else None
            if ref.isascii() and ref.isdigit()  # beyond the id range
            else session.scalar(select(ReferenceSet).where(ReferenceSet.name == ref))
        )
        if row is None:
            raise NotFound(
                f"no reference set {requested!r}; list them with GET /api/reference-sets"
            )
        return row
    if generator_ids:
        best = session.execute(
            select(MetricResult.reference_set_id, func.count())
            .where(
                MetricResult.generator_id.in_(generator_ids),
                MetricResult.reference_set_id.is_not(None),
                MetricResult.status == "ok",
            )
            .group_by(MetricResult.reference_set_id)
            .order_by(func.count().desc(), MetricResult.reference_set_id.desc())
            .limit(1)
        ).first()
        if best is not None:
            return session.get(ReferenceSet, best[0])
    return session.scalar(select(ReferenceSet).order_by(ReferenceSet.id.desc()).limit(1))


def _pending_by_scope(
    session: Session, generator_ids: list[int], reference_set_id: int | None
) -> tuple[Counter[str], str | None]:
    """Queued or running extraction and metrics jobs per scope that these generators wait on."""
    scopes = {owner_scope(g, None) for g in generator_ids}
    scopes |= {metrics_scope(g, reference_set_id) for g in generator_ids}
    scopes |= {metrics_scope(g, None) for g in generator_ids}
    ref_scope = owner_scope(None, reference_set_id) if reference_set_id is not None else None
    if ref_scope:
        scopes.add(ref_scope)
    counts: Counter[str] = Counter()
    scope_list = sorted(scopes)
    for start in range(0, len(scope_list), 500):
        chunk = scope_list[start : start + 500]
        for scope, n in session.execute(
            select(Job.scope, func.count())
            .where(
                Job.scope.in_(chunk),
                Job.status.in_(PENDING),
                Job.kind.in_([JobKind.extract_features, JobKind.compute_metrics]),
            )
            .group_by(Job.scope)
        ):
            counts[scope] += n
    return counts, ref_scope


def pending_jobs(
    session: Session, generator_ids: list[int], reference_set_id: int | None
) -> dict[int, int]:
    """Per generator: queued or running extraction jobs of its images or the reference set's,
    and metrics jobs for (generator, reference set)."""
    counts, ref_scope = _pending_by_scope(session, generator_ids, reference_set_id)
    shared = counts[ref_scope] if ref_scope else 0
    return {
        g: counts[owner_scope(g, None)]
        + counts[metrics_scope(g, reference_set_id)]
        + (counts[metrics_scope(g, None)] if reference_set_id is not None else 0)
        + shared
        for g in generator_ids
    }


def pending_total(session: Session, generator_ids: list[int], reference_set_id: int | None) -> int:
    """Distinct pending jobs the whole study waits on: the reference set's extraction, which
    every generator's count includes, is counted once here."""
    counts, _ = _pending_by_scope(session, generator_ids, reference_set_id)
    return sum(counts.values())


def metric_cells(
    session: Session, generator_ids: list[int], reference_set_id: int | None
) -> dict[int, dict[str, MetricCell]]:
    """Every metric for every generator: the stored result or why there is none."""
    pending = pending_jobs(session, generator_ids, reference_set_id)
    results: dict[tuple[int, str], MetricResult] = {}
    if generator_ids:
        scope = MetricResult.reference_set_id.is_(None)
        if reference_set_id is not None:
            scope = or_(scope, MetricResult.reference_set_id == reference_set_id)
        rows = session.scalars(
            select(MetricResult).where(MetricResult.generator_id.in_(generator_ids), scope)
        )
        for row in rows:
            key = (row.generator_id, row.metric)
            # The chosen reference set's row wins over a reference-free job's row.
            if key not in results or row.reference_set_id is not None:
                results[key] = row
    cells: dict[int, dict[str, MetricCell]] = {}
    for g in generator_ids:
        per: dict[str, MetricCell] = {}
        for metric in METRICS:
            row = results.get((g, metric))
            if row is not None:
                per[metric] = cell_from_result(row, pending[g])
            elif reference_set_id is None and metric in REFERENCE_METRICS:
                per[metric] = MetricCell(
                    metric,
                    "unavailable",
                    reason="no reference set of real images uploaded",
                )
            elif pending[g]:
                per[metric] = MetricCell(metric, "waiting", pending_jobs=pending[g])
            else:
                per[metric] = MetricCell(metric, "missing")
        cells[g] = per
    return cells


def image_resolutions(session: Session, generator_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per generator: image count and the most common stored resolution (and how many differ)."""
    sizes: dict[int, Counter[str]] = defaultdict(Counter)
    if generator_ids:
        for g, width, height, n in session.execute(
            select(Image.generator_id, Image.width, Image.height, func.count())
            .where(Image.generator_id.in_(generator_ids))
            .group_by(Image.generator_id, Image.width, Image.height)
        ):
            sizes[g][f"{width}x{height}"] += n
    out = {}
    for g in generator_ids:
        counter = sizes.get(g, Counter())
        common = counter.most_common(1)
        out[g] = {
            "n_images": sum(counter.values()),
            "image_resolution": common[0][0] if common else None,
            "resolutions": dict(counter),
        }
    return out


def sampling_settings(generator: Generator) -> dict[str, Any]:
    """The settings every score must be reported with (SPEC §2), as registered."""
    return {
        "checkpoint": generator.checkpoint,
        "guidance_scale": generator.guidance_scale,
        "truncation": generator.truncation,
        "sampler": generator.sampler,
        "steps": generator.steps,
        "resolution": generator.resolution,
        "family": generator.family,
        "family_setting": generator.family_setting,
        **{f"extra.{k}": v for k, v in sorted((generator.extra or {}).items())},
    }


def metric_results_table(
    session: Session, generator_ids: list[int], reference_set_id: int | None = None
) -> list[dict[str, Any]]:
    """Every stored metric result of these generators (all reference sets unless one is named),
    one flat record per row: the metric-results export."""
    if not generator_ids:
        return []
    query = (
        select(MetricResult, Generator.name, ReferenceSet.name)
        .join(Generator, Generator.id == MetricResult.generator_id)
        .outerjoin(ReferenceSet, ReferenceSet.id == MetricResult.reference_set_id)
        .where(MetricResult.generator_id.in_(generator_ids))
        .order_by(Generator.name, ReferenceSet.name, MetricResult.metric)
    )
    if reference_set_id is not None:
        query = query.where(
            or_(
                MetricResult.reference_set_id == reference_set_id,
                MetricResult.reference_set_id.is_(None),
            )
        )
    records = []
    for result, generator_name, reference_name in session.execute(query):
        records.append(
            {
                "generator": generator_name,
                "reference_set": reference_name,
                "metric": result.metric,
                "status": result.status,
                "value": result.value,
                "std": result.std,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "n_gen": result.n_gen,
                "n_real": result.n_real,
                "lower_is_better": result.metric in LOWER_IS_BETTER,
                "extractor": result.extractor,
                "preprocessing": result.preprocessing,
                "parameters": dict(result.parameters or {}),
                "warnings": [_warning_text(w) for w in (result.warnings or [])],
                "reason": result.reason,
                "job_id": result.job_id,
                "computed_at": result.computed_at.isoformat() if result.computed_at else None,
            }
        )
    return records
