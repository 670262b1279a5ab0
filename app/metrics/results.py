"""The value every metric returns: a number with its uncertainty, sample sizes, settings and caveats."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """Plain Python scalars, lists and dicts (numpy scalars and arrays converted), for JSON columns."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: int | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class MetricValue:
    """One metric: `value` (the mean for KID and IS), its spread and 95% interval where meaningful.

    `parameters` records every setting that changes the number (k, subsets, seed, kernel...), so a
    stored result can be reproduced; `warnings` says when the number should not be trusted alone.
    """

    metric: str
    value: float
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_gen: int | None = None
    n_real: int | None = None
    parameters: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "value": float(self.value),
            "std": _optional_float(self.std),
            "ci_low": _optional_float(self.ci_low),
            "ci_high": _optional_float(self.ci_high),
            "n_gen": _optional_int(self.n_gen),
            "n_real": _optional_int(self.n_real),
            "parameters": json_safe(self.parameters),
            "warnings": [str(w) for w in self.warnings],
        }

    @property
    def is_finite(self) -> bool:
        return math.isfinite(self.value)
