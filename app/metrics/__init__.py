"""Automatic image-generation metrics on feature arrays: pure numpy/scipy, no torch, web or DB.

Each function takes features (rows = images) or statistics and returns a MetricValue (or a dict
of them) carrying n, parameters, a spread or interval where meaningful, and warnings.
"""

from app.metrics.clip_score import clip_score
from app.metrics.cmmd import cmmd
from app.metrics.diversity import (
    diversity,
    pairwise_distance_histogram,
    within_group_similarity,
)
from app.metrics.errors import (
    DimensionMismatchError,
    InsufficientSamplesError,
    MetricInputError,
    MissingFeaturesError,
    StatisticsFileError,
)
from app.metrics.frechet import (
    GaussianStats,
    PreparedReference,
    fid,
    fid_infinity,
    frechet_distance,
    gaussian_stats,
    prepare_reference,
)
from app.metrics.inception_score import inception_score
from app.metrics.kid import kid, mmd2_unbiased
from app.metrics.prdc import nearest_neighbour_radii, prdc
from app.metrics.results import MetricValue
from app.metrics.statistics_file import load_statistics, save_statistics

__all__ = [
    "DimensionMismatchError",
    "GaussianStats",
    "InsufficientSamplesError",
    "MetricInputError",
    "MetricValue",
    "MissingFeaturesError",
    "PreparedReference",
    "StatisticsFileError",
    "clip_score",
    "cmmd",
    "diversity",
    "fid",
    "fid_infinity",
    "frechet_distance",
    "gaussian_stats",
    "inception_score",
    "kid",
    "load_statistics",
    "mmd2_unbiased",
    "nearest_neighbour_radii",
    "pairwise_distance_histogram",
    "prdc",
    "prepare_reference",
    "save_statistics",
    "within_group_similarity",
]
