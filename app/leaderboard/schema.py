"""The JSON leaderboard's response schema (GET /api/studies/{s}/leaderboard, the JSON export).

Every field `Leaderboard.to_dict()` writes is declared here with its type, so the OpenAPI
document describes the route and a test validates a real board against it. Models allow extra
fields: a new figure appears in the JSON before it is declared, never silently dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AspectInfo(_Open):
    key: str
    question: str


class AspectRatings(_Open):
    """One aspect's human score per generator, from that aspect's own votes."""

    key: str
    question: str
    label: str  # what the score is (Bradley-Terry rating or MOS)
    votes: int  # votes behind the aspect's ratings
    # per generator: bt, bt_ci_low, bt_ci_high (pairwise) or mos, mos_ci_low, mos_ci_high
    # (rating), rank, votes
    generators: dict[str, dict[str, Any]]


class StudyInfo(_Open):
    id: int
    public_id: str
    name: str
    kind: str
    question: str | None
    status: str
    is_public: bool
    raters_per_item: int
    attention_check_rate: float
    pair_policy: str
    flag_options: list[str]
    aspects: list[AspectInfo] = []  # several questions per task; [] for one question
    max_vote_share: float | None
    reference_set_id: int | None


class BoardOptions(_Open):
    apply_exclusions: bool
    reference_set: int | None
    bootstrap_rounds: int
    seed: int
    control: list[str]  # covariates the controlled ratings adjust for, besides the side shown
    anchor: str | None  # the generator held at 1000 in the trajectory
    aspect: str | None = None  # the aspect whose votes every figure uses (null: one question)


class ReferenceSetInfo(_Open):
    id: int
    name: str
    preprocessing_mode: str
    source: str  # "images" or "statistics" (an imported .npz)


class ReferenceSetRef(_Open):
    id: int
    name: str


class MetricColumn(_Open):
    metric: str
    label: str
    lower_is_better: bool


class HumanScoreLabel(_Open):
    label: str


class MetricCellOut(_Open):
    """One automatic metric of one generator (app.leaderboard.metric_cells.MetricCell)."""

    metric: str
    state: str  # ok | unavailable | waiting | missing
    value: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    n_gen: int | None
    n_real: int | None
    extractor: str | None
    preprocessing: str | None
    parameters: dict[str, Any]
    warnings: list[str]
    reason: str | None
    pending_jobs: int
    reference_set_id: int | None
    computed_at: str | None
    lower_is_better: bool
    note: str


class HumanRow(_Open):
    """A generator's human figures; null where the study kind or the data has none."""

    bt: float | None
    bt_ci_low: float | None
    bt_ci_high: float | None
    bt_ci_unbounded: str | None
    bt_controlled: float | None  # controlled Bradley-Terry (app.leaderboard.depth)
    bt_controlled_ci_low: float | None
    bt_controlled_ci_high: float | None
    separation: str | None
    rank: int | None
    rank_worst: int | None
    elo: float | None
    win_rate: float | None
    votes: int
    wins: int | None
    ties: int | None
    tie_rate: float | None
    both_bad: int | None
    both_bad_rate: float | None
    beats: list[str]
    mos: float | None
    mos_sd: float | None
    mos_ci_low: float | None
    mos_ci_high: float | None
    mos_ci_items_low: float | None
    mos_ci_items_high: float | None
    mos_items: int | None
    flag_rates: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]  # per prompt category: rating, ci_low, ci_high, votes


class ImageCounts(_Open):
    n_images: int
    image_resolution: str | None = None  # researchers only (services/public_results.py)
    resolutions: dict[str, int] | None = None


class Row(_Open):
    position: int
    generator: str
    generator_id: int
    human: HumanRow
    human_score: float | None
    metrics: dict[str, MetricCellOut]
    settings: dict[str, Any]  # the sampling settings, extra.* keys included
    images: ImageCounts
    pending_jobs: int


class VoteCounts(_Open):
    total: int
    used_for_ratings: int
    attention_checks: int
    from_excluded_annotators: int


class Correlation(_Open):
    """Rank agreement of one metric with the human score (app.stats.correlation)."""

    metric: str
    label: str
    human: str
    n_generators: int
    spearman: float | None
    spearman_ci: list[float | None] | None
    kendall: float | None
    kendall_ci: list[float | None] | None
    lower_is_better: bool
    conclusive: bool
    note: str | None
    bootstrap_rounds: int
    seed: int


class BootstrapInfo(_Open):
    rounds: int
    seed: int
    level: float
    method: str


class Provenance(_Open):
    software: dict[str, str]
    extractors: list[str]
    bootstrap: BootstrapInfo
    elo: dict[str, float]


class Coefficient(_Open):
    log_odds: float
    ci_low: float
    ci_high: float
    odds_ratio: float
    elo_equivalent: float
    per: str
    significant: bool


class Controlled(_Open):
    """Ratings controlled for the side shown and chosen image covariates (pairwise studies)."""

    available: bool
    reason: str | None
    covariates: list[str]
    available_covariates: dict[str, str]
    method: str
    rounds: int
    seed: int
    level: float
    n_votes: int
    ratings: dict[str, dict[str, float | None]]
    coefficients: dict[str, Coefficient]
    converged: bool | None = None


class CategoryBoard(_Open):
    category: str
    n_votes: int
    leader: str | None  # only where its interval separates it from every other generator
    cells: dict[str, dict[str, Any]]  # generator -> rating, ci_low, ci_high, votes, rank
    warnings: list[str]


class Categories(_Open):
    boards: list[CategoryBoard]
    rounds: int
    seed: int
    level: float
    n_votes_without_category: int
    leader_rule: str


class Trajectory(_Open):
    """Ratings with 95% intervals after the first n votes, at checkpoints."""

    available: bool
    reason: str | None = None
    level: float | None = None
    anchor: dict[str, Any] | None = None
    votes: list[int] | None = None
    generators: dict[str, dict[str, list[float | None]]] | None = None
    rounds: int | None = None
    seed: int | None = None


class VotesNeededPair(_Open):
    higher: str
    lower: str
    difference: float
    sd: float | None
    separated: bool
    more_votes: float | None  # null: may never separate
    more_votes_low: float | None
    more_votes_high: float | None
    head_to_head: float | None
    n_votes: int


class VotesNeeded(_Open):
    method: str
    pairs: list[VotesNeededPair]


class LeaderboardOut(_Open):
    """The whole leaderboard of one study, as the JSON route and the JSON export give it."""

    study: StudyInfo
    options: BoardOptions
    generated_at: str
    fingerprint: str
    reference_set: ReferenceSetInfo | None
    reference_sets: list[ReferenceSetRef]
    pending_jobs: int
    updating: bool
    metrics: list[MetricColumn]
    human_score: HumanScoreLabel
    aspect: str | None = None  # = options.aspect
    aspects: list[AspectRatings] = []  # every aspect side by side; [] for one question
    rows: list[Row]
    # The agreement panel and annotator figures as app.stats computes them.
    agreement: dict[str, Any]
    annotators: list[dict[str, Any]]
    votes: VoteCounts
    win_rate_matrix: dict[str, Any] | None
    # Pairwise studies only (null for rating and flag studies): app.leaderboard.depth.
    controlled: Controlled | None
    categories: Categories | None
    trajectory: Trajectory | None
    votes_needed: VotesNeeded | None
    correlations: list[Correlation]
    quality_diversity: list[dict[str, Any]]
    bootstrap: BootstrapInfo
    warnings: list[str]
    provenance: Provenance
