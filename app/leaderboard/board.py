"""The leaderboard of one study: human ratings and automatic metrics side by side.

`build_leaderboard` assembles one plain `Leaderboard`; the HTML page, the JSON API, the CSV/JSON
exports and the evaluation report all read that same object, so they show identical numbers.
`fingerprint` changes whenever anything it shows can have changed; the caching around it is in
cache.py (memory) and snapshots.py (database, the leaderboard_snapshots table).
"""

from __future__ import annotations

import hashlib
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from app import __version__
from app.errors import InvalidInput
from app.leaderboard.depth import human_depth
from app.leaderboard.human import (
    BOOTSTRAP_ROUNDS,
    SEED,
    AnnotatorInfo,
    HumanSummary,
    VoteLog,
    summarise_votes,
)
from app.leaderboard.metric_cells import (
    choose_reference_set,
    image_resolutions,
    metric_cells,
    pending_total,
    sampling_settings,
)
from app.leaderboard.sweep import quality_diversity_families
from app.metrics.catalog import LOWER_IS_BETTER, METRIC_LABELS, METRICS
from app.models import (
    Annotator,
    Assignment,
    Generator,
    Image,
    Job,
    MetricResult,
    Prompt,
    ReferenceSet,
    Study,
    Vote,
)
from app.models.enums import PENDING_STATUSES, CheckKind, StudyKind
from app.models.ops import JobScope, ScopeKind, owner_scope
from app.stats import ExclusionRule
from app.stats.correlation import rank_agreement
from app.stats.elo import ELO_BASE, ELO_INITIAL, ELO_K, ELO_SCALE

# Every row carries every human field (null when the study kind or the data has none), so the
# JSON, CSV and templates read the same keys for every study.
HUMAN_FIELDS = {
    "bt": None,
    "bt_ci_low": None,
    "bt_ci_high": None,
    "bt_ci_unbounded": None,
    "bt_controlled": None,
    "bt_controlled_ci_low": None,
    "bt_controlled_ci_high": None,
    "separation": None,
    "rank": None,
    "rank_worst": None,
    "elo": None,
    "win_rate": None,
    "votes": 0,
    "wins": None,
    "ties": None,
    "tie_rate": None,
    "both_bad": None,
    "both_bad_rate": None,
    "beats": [],
    "mos": None,
    "mos_sd": None,
    "mos_ci_low": None,
    "mos_ci_high": None,
    "mos_ci_items_low": None,
    "mos_ci_items_high": None,
    "mos_items": None,
    "flag_rates": {},
    "categories": {},  # per prompt category: rating, ci_low, ci_high, votes, rank
}
SOFTWARE = ("numpy", "scipy", "krippendorff", "matplotlib", "sqlalchemy", "fastapi")


@dataclass(frozen=True)
class LeaderboardOptions:
    """What a reader can change: exclusions on or off, the reference set, bootstrap settings."""

    apply_exclusions: bool = True
    reference_set: int | str | None = None
    rounds: int = BOOTSTRAP_ROUNDS
    seed: int = SEED
    # Per-image covariates controlled Bradley-Terry adjusts for besides the side shown
    # (app.leaderboard.covariates.COVARIATES).
    control: tuple[str, ...] = ()
    # A generator held at 1000 in the ratings-over-votes trajectory (None: mean 1000).
    anchor: str | None = None
    # A study with aspects: whose votes every figure is computed from (None: the first aspect).
    aspect: str | None = None


@dataclass
class Leaderboard:
    """Everything one study's leaderboard shows, as plain data (see module docstring)."""

    study: dict[str, Any]
    options: dict[str, Any]
    reference_set: dict[str, Any] | None
    reference_sets: list[dict[str, Any]]
    generated_at: str
    fingerprint: str
    rows: list[dict[str, Any]]
    human: HumanSummary
    correlations: list[dict[str, Any]]
    pending_jobs: int
    provenance: dict[str, Any]
    compute_seconds: float = 0.0
    # Generator families and their swept setting (sweep.py).
    families: list[dict[str, Any]] = field(default_factory=list)
    # Set when newer data exists and a recomputation is under way (LeaderboardCache).
    updating: bool = False
    # Controlled ratings and per-category boards (app.leaderboard.depth).
    depth: dict[str, Any] = field(default_factory=dict)
    # A study with aspects: every aspect's human score per generator, side by side
    # (aspect_table); empty for a single-question study.
    aspects: list[dict[str, Any]] = field(default_factory=list)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def generators(self) -> list[str]:
        return [row["generator"] for row in self.rows]

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Derived artefacts (plots) computed once per leaderboard, shared across requests."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    def to_dict(self) -> dict[str, Any]:
        human = self.human
        return {
            "study": self.study,
            "options": self.options,
            "generated_at": self.generated_at,
            "fingerprint": self.fingerprint,
            "reference_set": self.reference_set,
            "reference_sets": self.reference_sets,
            "pending_jobs": self.pending_jobs,
            "updating": self.updating,
            "metrics": [
                {
                    "metric": m,
                    "label": METRIC_LABELS[m],
                    "lower_is_better": m in LOWER_IS_BETTER,
                }
                for m in METRICS
            ],
            "human_score": {"label": human.human_score_label},
            "aspect": self.options.get("aspect"),
            "aspects": self.aspects,
            "rows": self.rows,
            "agreement": human.agreement,
            "annotators": human.annotators,
            "votes": {
                "total": human.n_votes_total,
                "used_for_ratings": human.n_votes_used,
                "attention_checks": human.n_attention_votes,
                "from_excluded_annotators": human.n_excluded_votes,
            },
            "win_rate_matrix": human.win_matrix,
            "controlled": self.depth.get("controlled"),
            "categories": self.depth.get("categories"),
            "trajectory": self.depth.get("trajectory"),
            "votes_needed": self.depth.get("votes_needed"),
            "correlations": self.correlations,
            "quality_diversity": self.families,
            "bootstrap": human.bootstrap,
            "warnings": human.warnings,
            "provenance": self.provenance,
        }


def flat_row(row: dict[str, Any], flag_options: list[str]) -> dict[str, Any]:
    """One leaderboard row as flat columns: the CSV export."""
    human = row["human"]
    out: dict[str, Any] = {"position": row["position"], "generator": row["generator"]}
    for key in (
        "bt",
        "bt_ci_low",
        "bt_ci_high",
        "bt_ci_unbounded",
        "bt_controlled",
        "bt_controlled_ci_low",
        "bt_controlled_ci_high",
        "rank",
        "rank_worst",
        "elo",
        "win_rate",
        "ties",
        "tie_rate",
        "both_bad",
        "both_bad_rate",
    ):
        out[key] = human.get(key)
    out["votes"] = human.get("votes", 0)
    for key in ("mos", "mos_ci_low", "mos_ci_high"):
        out[key] = human.get(key)
    rates = human.get("flag_rates") or {}
    for mode in [*flag_options, "any"] if rates else []:
        rate = rates.get(mode, {})
        out[f"flag_rate[{mode}]"] = rate.get("rate")
        out[f"flag_rate[{mode}]_ci_low"] = rate.get("ci_low")
        out[f"flag_rate[{mode}]_ci_high"] = rate.get("ci_high")
    for category, cell in sorted((human.get("categories") or {}).items()):
        for key in ("rating", "ci_low", "ci_high", "votes"):
            out[f"category[{category}]" + ("" if key == "rating" else f"_{key}")] = cell[key]
    for metric in METRICS:
        cell = row["metrics"][metric]
        out[metric] = cell["value"]
        if metric == "kid":
            out["kid_std"] = cell["std"]
        elif cell.get("ci_low") is not None:
            out[f"{metric}_ci_low"] = cell["ci_low"]
            out[f"{metric}_ci_high"] = cell["ci_high"]
        mode = (cell.get("parameters") or {}).get("preprocessing_mode")
        if mode:
            out[f"{metric}_preprocessing_mode"] = mode
        out[f"{metric}_n_gen"] = cell["n_gen"]
        out[f"{metric}_note"] = cell["note"]
    for key, value in row["settings"].items():
        out[f"setting.{key}"] = value
    if "image_resolution" in row["images"]:  # researchers only (services/public_results.py)
        out["image_resolution"] = row["images"]["image_resolution"]
    out["n_images"] = row["images"]["n_images"]
    return out


# ----------------------------------------------------------------------------- loading


def exclusion_rule(study: Study) -> ExclusionRule:
    """The study's own thresholds (set when it was created; see app.stats.ExclusionRule)."""
    return ExclusionRule(
        min_loo_agreement=study.min_loo_agreement,
        min_attention_accuracy=study.min_attention_accuracy,
        min_median_response_s=study.min_median_response_s,
        min_attention_checks=study.min_attention_checks,
        min_repeat_consistency=study.min_repeat_consistency,
    )


def load_annotators(session: Session, study: Study) -> dict[str, AnnotatorInfo]:
    return {
        handle: AnnotatorInfo(handle, bool(simulated), override, note)
        for handle, simulated, override, note in session.execute(
            select(
                Annotator.handle,
                Annotator.is_simulated,
                Annotator.exclusion_override,
                Annotator.exclusion_note,
            ).where(Annotator.study_id == study.id)
        )
    }


def board_aspect(study: Study, aspect: str | None) -> str | None:
    """The aspect a reader asked for, checked (None: the first, or None without aspects)."""
    keys = study.aspect_keys
    if not keys:
        if aspect:
            raise InvalidInput("this study asks one question: it has no aspects")
        return None
    if aspect is None or aspect == "":
        return keys[0]
    if aspect not in keys:
        raise InvalidInput(f"unknown aspect {aspect!r}; this study's aspects are {keys}")
    return aspect


def load_vote_log(
    session: Session, study: Study, aspect: str | None = None
) -> tuple[VoteLog, dict[str, AnnotatorInfo]]:
    """The study's votes in time order with their assignments' sides, as plain columns: of one
    aspect in a study with aspects (None: the first)."""
    aspect = board_aspect(study, aspect)
    left, right, single = aliased(Generator), aliased(Generator), aliased(Generator)
    # The source of a degraded check's copy: a real reference image or a generator's.
    source = aliased(Image)
    query = (
        select(
            Vote.id,
            Annotator.handle,
            Vote.assignment_id,
            Assignment.check_kind,
            Assignment.expected_choice,
            Assignment.repeat_of_id,
            Vote.choice,
            Vote.winner,
            left.name,
            right.name,
            Assignment.image_left_id,
            Assignment.image_right_id,
            single.name,
            Assignment.image_id,
            Vote.rating,
            Vote.flags,
            Vote.server_ms,
            Prompt.external_id,
            source.reference_set_id.is_not(None),
        )
        .join(Assignment, Assignment.id == Vote.assignment_id)
        .join(Annotator, Annotator.id == Vote.annotator_id)
        .outerjoin(Prompt, Prompt.id == Assignment.prompt_id)
        .outerjoin(
            source,
            (Assignment.check_kind == CheckKind.degraded)
            & (source.id == func.coalesce(Assignment.image_left_id, Assignment.image_id)),
        )
        .outerjoin(left, left.id == Assignment.generator_left_id)
        .outerjoin(right, right.id == Assignment.generator_right_id)
        .outerjoin(single, single.id == Assignment.generator_id)
        .where(Vote.study_id == study.id)
        .where(Vote.aspect.is_(None) if aspect is None else Vote.aspect == aspect)
        .order_by(Vote.created_at, Vote.id)
    )
    log = VoteLog(kind=study.kind)
    columns = (
        log.vote_id,
        log.annotator,
        log.assignment,
        log.check_kind,
        log.expected,
        log.repeat_of,
        log.choice,
        log.winner,
        log.left,
        log.right,
        log.left_image,
        log.right_image,
        log.generator,
        log.image,
        log.rating,
        log.flags,
        log.server_ms,
        log.prompt_ref,
        log.clean_reference,
    )
    # Core rows, not ORM objects: 100,000 votes load in a fraction of a second this way.
    result = session.execute(query)
    for row in result:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    log.clean_reference[:] = [bool(v) for v in log.clean_reference]
    return log, load_annotators(session, study)


def fingerprint(session: Session, study: Study, generator_ids: list[int]) -> str:
    """Changes whenever anything the leaderboard shows can have changed."""
    votes = session.execute(
        select(func.count(Vote.id), func.max(Vote.id)).where(Vote.study_id == study.id)
    ).one()
    annotators = session.execute(
        select(
            func.count(Annotator.id),
            func.count(Annotator.exclusion_override),
            func.max(Annotator.exclusion_set_at),
            func.max(Annotator.id),
        ).where(Annotator.study_id == study.id)
    ).one()
    parts: list[Any] = [
        study.id,
        study.kind,
        study.status,
        study.is_public,
        study.name,
        study.question,
        study.raters_per_item,
        study.attention_check_rate,
        study.pair_policy,
        tuple(study.flag_options or []),
        repr(study.aspects),
        tuple(exclusion_rule(study).to_dict().items()),
        tuple(generator_ids),
        # Names and sampling settings are shown beside every score.
        tuple((g.id, g.name, tuple(sampling_settings(g).items())) for g in study.generators),
    ]
    parts += [tuple(votes), tuple(annotators)]
    # Controlled ratings read the images' appearance covariates (`arena media covariates`).
    parts.append(session.scalar(select(func.count(Image.brightness))))
    if generator_ids:
        parts.append(
            tuple(
                session.execute(
                    select(
                        func.count(MetricResult.id),
                        func.max(MetricResult.id),
                        func.max(MetricResult.computed_at),
                    ).where(MetricResult.generator_id.in_(generator_ids))
                ).one()
            )
        )
        # Only the jobs that can change this leaderboard's cells: its generators' extraction
        # and metrics jobs, and reference-set extraction.
        relevant = or_(
            Job.scope.in_([owner_scope(g, None) for g in generator_ids]),
            Job.scope.like(JobScope.like_any(ScopeKind.reference_set)),
            *[Job.scope.like(JobScope.like_metrics_of(g)) for g in generator_ids],
        )
        parts.append(
            tuple(
                session.execute(
                    select(func.count(Job.id), func.max(Job.id)).where(
                        Job.status.in_(PENDING_STATUSES), relevant
                    )
                ).one()
            )
        )
        parts.append(session.scalar(select(func.max(ReferenceSet.id))))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def software_versions() -> dict[str, str]:
    versions = {"gallery-arena": __version__, "python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


# ----------------------------------------------------------------------------- assembly


def _correlations(
    human: HumanSummary,
    names_by_id: dict[int, str],
    cells: dict[int, dict[str, Any]],
    rounds: int,
    seed: int,
) -> list[dict[str, Any]]:
    out = []
    for metric in METRICS:
        pairs = [
            (human.human_score[name], cells[g][metric].value)
            for g, name in names_by_id.items()
            if name in human.human_score and cells[g][metric].state == "ok"
        ]
        result = rank_agreement(
            metric,
            [h for h, _ in pairs],
            [v for _, v in pairs],
            lower_is_better=metric in LOWER_IS_BETTER,
            rounds=rounds,
            seed=seed,
        ).to_dict()
        result["label"] = METRIC_LABELS[metric]
        result["human"] = human.human_score_label
        out.append(result)
    return out


# What the side-by-side aspect table shows of each aspect's board, per generator.
ASPECT_FIELDS = {
    StudyKind.pairwise: ("bt", "bt_ci_low", "bt_ci_high", "rank", "votes"),
    StudyKind.rating: ("mos", "mos_ci_low", "mos_ci_high", "rank", "votes"),
}


def aspect_table(
    session: Session,
    study: Study,
    options: LeaderboardOptions,
    shown: tuple[str, HumanSummary],
) -> list[dict[str, Any]]:
    """Every aspect's rating with its 95% interval per generator: each aspect's own board (its
    votes, its exclusions, the reader's bootstrap settings); `shown`: the one already computed."""
    names = [g.name for g in study.generators]
    fields = ASPECT_FIELDS.get(StudyKind(study.kind), ())
    out = []
    for aspect in study.aspects or []:
        if aspect["key"] == shown[0]:
            human = shown[1]
        else:
            log, annotators = load_vote_log(session, study, aspect["key"])
            human = summarise_votes(
                log,
                names,
                annotators,
                apply_exclusions=options.apply_exclusions,
                rule=exclusion_rule(study),
                flag_options=list(study.flag_options or []),
                rounds=options.rounds,
                seed=options.seed,
            )
        out.append(
            {
                "key": aspect["key"],
                "question": aspect["question"],
                "label": human.human_score_label,
                "votes": human.n_votes_used,
                "generators": {
                    name: {key: human.per_generator.get(name, {}).get(key) for key in fields}
                    for name in names
                },
            }
        )
    return out


def build_leaderboard(
    session: Session, study: Study, options: LeaderboardOptions = LeaderboardOptions()
) -> Leaderboard:
    """Compute the leaderboard of `study` (no cache; see LeaderboardCache): in a study with
    aspects, every figure from the votes of `options.aspect` (None: the first), and the
    side-by-side table of every aspect."""
    started = time.perf_counter()
    aspect = board_aspect(study, options.aspect)
    generators = list(study.generators)
    if options.anchor is not None and options.anchor not in {g.name for g in generators}:
        raise InvalidInput(f"the anchor {options.anchor!r} is not a generator of this study")
    ids = [g.id for g in generators]
    names_by_id = {g.id: g.name for g in generators}
    print_ = fingerprint(session, study, ids)
    reference = choose_reference_set(session, ids, options.reference_set)
    cells = metric_cells(session, ids, reference.id if reference else None)
    images = image_resolutions(session, ids)
    log, annotators = load_vote_log(session, study, aspect)
    human = summarise_votes(
        log,
        [g.name for g in generators],
        annotators,
        apply_exclusions=options.apply_exclusions,
        rule=exclusion_rule(study),
        flag_options=list(study.flag_options or []),
        rounds=options.rounds,
        seed=options.seed,
    )
    depth = human_depth(
        session,
        study.id,
        log,
        human,
        control=options.control,
        anchor=options.anchor,
        rounds=options.rounds,
        seed=options.seed,
    )
    rows = []
    for g in generators:
        rows.append(
            {
                "generator": g.name,
                "generator_id": g.id,
                "human": {**HUMAN_FIELDS, **human.per_generator.get(g.name, {})},
                "human_score": human.human_score.get(g.name),
                "metrics": {m: cells[g.id][m].to_dict() for m in METRICS},
                "settings": sampling_settings(g),
                "images": images[g.id],
                "pending_jobs": max((c.pending_jobs for c in cells[g.id].values()), default=0),
            }
        )
    # Best human score first; generators nobody has judged yet go last, by name.
    rows.sort(
        key=lambda r: (
            r["human_score"] is None,
            -(r["human_score"] or 0.0),
            r["generator"],
        )
    )
    for position, row in enumerate(rows, start=1):
        row["position"] = position
    reference_sets = [
        {"id": r.id, "name": r.name}
        for r in session.scalars(select(ReferenceSet).order_by(ReferenceSet.id))
    ]
    extractors = sorted(
        {c.extractor for per in cells.values() for c in per.values() if c.extractor}
    )
    leaderboard = Leaderboard(
        study={
            "id": study.id,
            "public_id": study.public_id,
            "name": study.name,
            "kind": study.kind,
            "question": study.question,
            "status": study.status,
            "is_public": study.is_public,
            "raters_per_item": study.raters_per_item,
            "attention_check_rate": study.attention_check_rate,
            "pair_policy": study.pair_policy,
            "flag_options": list(study.flag_options or []),
            "aspects": list(study.aspects or []),
            "max_vote_share": study.max_vote_share,
            "reference_set_id": study.reference_set_id,
        },
        options={
            "apply_exclusions": options.apply_exclusions,
            "reference_set": reference.id if reference else None,
            "bootstrap_rounds": options.rounds,
            "seed": options.seed,
            "control": list(options.control),
            "anchor": options.anchor,
            "aspect": aspect,
        },
        reference_set=(
            {
                "id": reference.id,
                "name": reference.name,
                "preprocessing_mode": reference.preprocessing_mode,
                "source": "statistics" if reference.statistics_path else "images",
            }
            if reference
            else None
        ),
        reference_sets=reference_sets,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        fingerprint=print_,
        rows=rows,
        human=human,
        correlations=_correlations(human, names_by_id, cells, options.rounds, options.seed),
        pending_jobs=pending_total(
            session, [g.id for g in generators], reference.id if reference else None
        ),
        provenance={
            "software": software_versions(),
            "extractors": extractors,
            "bootstrap": human.bootstrap,
            "elo": {"k": ELO_K, "scale": ELO_SCALE, "base": ELO_BASE, "initial": ELO_INITIAL},
        },
    )
    leaderboard.families = quality_diversity_families(rows)
    leaderboard.depth = depth
    leaderboard.aspects = aspect_table(session, study, options, (aspect, human))
    leaderboard.compute_seconds = time.perf_counter() - started
    return leaderboard
