"""Automatic image-generation metrics on feature arrays: pure numpy/scipy, no torch, web or DB.

Each function takes features (rows = images) or statistics and returns a MetricValue (or a dict
of them) carrying n, parameters, a spread or interval where meaningful, and warnings.
"""

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
    frechet_distance,
    gaussian_stats,
    prepare_reference,
)
from app.metrics.kid import kid, mmd2_unbiased
from app.metrics.prdc import nearest_neighbour_radii, prdc
from app.metrics.results import MetricValue

__all__ = [
    "DimensionMismatchError",
    "GaussianStats",
    "InsufficientSamplesError",
    "MetricInputError",
    "MetricValue",
    "MissingFeaturesError",
    "PreparedReference",
    "StatisticsFileError",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "kid",
    "mmd2_unbiased",
    "nearest_neighbour_radii",
    "prdc",
    "prepare_reference",
]
