"""Specific exceptions of the statistics core; the service layer maps them to HTTP statuses."""

from __future__ import annotations


class StatsError(ValueError):
    """Base class: the input cannot give a defined statistic."""


class DegenerateDataError(StatsError):
    """The statistic is 0/0 on this input (one category everywhere, one rater per item, ...)."""


class UnknownGeneratorError(StatsError):
    """A generator name (e.g. the anchor) that does not occur in the data."""


class InputFormatError(StatsError):
    """A malformed input file; `line` is the 1-based physical line number (header = 1)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message)
