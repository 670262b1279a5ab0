"""Pure statistics core (numpy/scipy only): ratings, intervals, win tables, MOS and agreement.

No web, database or torch imports here; the import-linter contracts in pyproject.toml enforce it.
"""

from app.stats.agreement import (
    AgreementSummary,
    AnnotatorQuality,
    ExclusionRule,
    Exclusions,
    annotator_quality,
    category_counts,
    encode_ratings,
    exclude_annotators,
    fleiss_kappa,
    fleiss_kappa_from_ratings,
    fleiss_kappa_generalised,
    krippendorff_alpha,
    leave_one_out_agreement,
    study_agreement,
)
from app.stats.battles import (
    Battles,
    UniqueOutcomes,
    battles_from_records,
    unique_outcomes,
)
from app.stats.bootstrap import (
    BootstrapResult,
    bootstrap_bradley_terry,
    bootstrap_bradley_terry_counts,
    pairwise_significance,
    rank_from_intervals,
)
from app.stats.bradley_terry import (
    BradleyTerryFit,
    BradleyTerryResult,
    PairTable,
    bradley_terry,
    fit_bradley_terry,
    pair_table,
)
from app.stats.elo import EloResult, elo_win_probability, online_elo
from app.stats.exceptions import (
    DegenerateDataError,
    InputFormatError,
    StatsError,
    UnknownGeneratorError,
)
from app.stats.mos import (
    MOSResult,
    MOSSummary,
    mean_opinion_scores,
    normalise_per_rater,
    t_interval,
)
from app.stats.position import PositionBias, position_bias, wilson_interval
from app.stats.win_tables import WinTables, predicted_win_rate, win_tables

__all__ = [
    "AgreementSummary",
    "AnnotatorQuality",
    "Battles",
    "BootstrapResult",
    "BradleyTerryFit",
    "BradleyTerryResult",
    "DegenerateDataError",
    "EloResult",
    "ExclusionRule",
    "Exclusions",
    "InputFormatError",
    "MOSResult",
    "MOSSummary",
    "PairTable",
    "PositionBias",
    "StatsError",
    "UniqueOutcomes",
    "UnknownGeneratorError",
    "WinTables",
    "annotator_quality",
    "battles_from_records",
    "bootstrap_bradley_terry",
    "bootstrap_bradley_terry_counts",
    "bradley_terry",
    "category_counts",
    "elo_win_probability",
    "encode_ratings",
    "exclude_annotators",
    "fit_bradley_terry",
    "fleiss_kappa",
    "fleiss_kappa_from_ratings",
    "fleiss_kappa_generalised",
    "krippendorff_alpha",
    "leave_one_out_agreement",
    "mean_opinion_scores",
    "normalise_per_rater",
    "online_elo",
    "pair_table",
    "pairwise_significance",
    "position_bias",
    "predicted_win_rate",
    "rank_from_intervals",
    "study_agreement",
    "t_interval",
    "unique_outcomes",
    "wilson_interval",
    "win_tables",
]
