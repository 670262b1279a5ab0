"""Exceptions raised by the metrics core; callers (CLI, workers) map them to exit codes or job errors."""

from __future__ import annotations


class MetricInputError(ValueError):
    """Features or statistics that no metric can be computed from (shape, NaN/inf, too few rows)."""


class DimensionMismatchError(MetricInputError):
    """Two sets of features or statistics live in spaces of different dimension."""


class InsufficientSamplesError(MetricInputError):
    """Fewer samples than the metric needs (e.g. PRDC needs at least k + 1 per side)."""


class StatisticsFileError(MetricInputError):
    """A statistics file that cannot be read, or whose arrays are inconsistent."""


class MissingFeaturesError(StatisticsFileError):
    """A statistics file holds only mu and sigma, but the metric needs the per-image features."""
