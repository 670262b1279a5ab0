"""Mean opinion scores per generator (ITU-T P.800.1 / P.1401 practice) with t intervals.

Two intervals per generator: "t over ratings" (mean +- t_{n-1} sd/sqrt(n) over every rating; the
usual MOS CI, which ignores that ratings of one item are correlated) and "t over item means"
(the same on per-item mean scores; n = items), which accounts for item clustering and is wider.

Optional per-annotator normalisation (z-scores per rater, as in e.g. Naderi & Cutler 2020 on
crowdsourced MOS): z = (x - mean_rater) / sd_rater, then mapped back to the rating scale for
display as  x' = grand_mean + grand_sd * z,  where grand_mean and grand_sd (ddof=1) are those of
all raw ratings pooled. The map is affine, so rankings, ratios of differences and CIs carry over;
it keeps the overall centre and spread of the raw 1-5 scores, so normalised MOS read like raw
MOS. Normalised values are not clipped and can fall slightly outside 1-5.

`bounds=(low, high)` (the rating scale, e.g. (1, 5)) clips the intervals of raw scores to the
scale: a t interval around a mean of 4.9 would otherwise claim values above 5 are plausible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.stats.exceptions import DegenerateDataError, StatsError


@dataclass(frozen=True)
class MOSSummary:
    """One generator's MOS: mean, sd (ddof=1), n ratings, n items and the two t intervals."""

    mean: float
    sd: float | None
    n: int
    n_items: int
    ci_low: float | None  # t over ratings
    ci_high: float | None
    ci_items_low: float | None  # t over item means
    ci_items_high: float | None

    def to_dict(self) -> dict:
        return {
            "mean": self.mean,
            "sd": self.sd,
            "n": self.n,
            "n_items": self.n_items,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_items_low": self.ci_items_low,
            "ci_items_high": self.ci_items_high,
        }


@dataclass(frozen=True)
class RaterSummary:
    """One annotator's raw mean score, offset from the grand mean, sd and number of ratings."""

    mean: float
    offset: float
    sd: float | None
    n: int

    def to_dict(self) -> dict:
        return {"mean": self.mean, "offset": self.offset, "sd": self.sd, "n": self.n}


@dataclass(frozen=True)
class MOSResult:
    models: dict[str, MOSSummary]
    raters: dict[str, RaterSummary]
    normalised: bool
    grand_mean: float
    grand_sd: float | None
    level: float

    def to_dict(self) -> dict:
        return {
            "models": {m: s.to_dict() for m, s in self.models.items()},
            "raters": {r: s.to_dict() for r, s in self.raters.items()},
            "normalised": self.normalised,
            "normalisation": (
                "per-rater z-score, shown as grand_mean + grand_sd * z" if self.normalised else None
            ),
            "grand_mean": self.grand_mean,
            "grand_sd": self.grand_sd,
            "level": self.level,
        }


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Student t interval for a mean: mean +- t_{(1+level)/2, n-1} * sd / sqrt(n); None if n < 2."""
    n = values.size
    if n < 2:
        return None, None
    mean = float(values.mean())
    # scipy.stats takes a second to import: loaded on first use, not with the package.
    from scipy.stats import t as student_t

    half = float(student_t.ppf(0.5 + level / 2.0, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def normalise_per_rater(raters: Sequence[str], scores) -> np.ndarray:
    """Per-rater z-scores mapped back onto the raw scale (see module docstring)."""
    x = np.asarray(scores, dtype=np.float64)
    r = np.asarray(raters, dtype=object)
    if x.size < 2:
        raise DegenerateDataError("normalisation needs at least two ratings")
    grand_mean, grand_sd = x.mean(), x.std(ddof=1)
    out = np.empty_like(x)
    for rater in dict.fromkeys(r.tolist()):
        mask = r == rater
        own = x[mask]
        sd = own.std(ddof=1) if own.size > 1 else 0.0
        if sd == 0.0:
            # A rater with one rating, or the same score everywhere, has no scale to divide by.
            raise DegenerateDataError(
                f"rater {rater!r} has no spread in scores; cannot z-normalise"
            )
        out[mask] = grand_mean + grand_sd * (own - own.mean()) / sd
    return out


def _clip(value: float | None, bounds: tuple[float, float]) -> float | None:
    return None if value is None else float(min(max(value, bounds[0]), bounds[1]))


def mean_opinion_scores(
    models: Sequence[str],
    items: Sequence[str],
    raters: Sequence[str],
    scores,
    *,
    normalise: bool = False,
    level: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> MOSResult:
    """MOS per generator from long-format ratings (one entry per rating); `bounds` clips the
    intervals to the rating scale (raw scores only; see module docstring)."""
    x = np.asarray(scores, dtype=np.float64)
    n = x.size
    if not (len(models) == len(items) == len(raters) == n):
        raise StatsError("models, items, raters and scores must have the same length")
    if n == 0:
        raise DegenerateDataError("no ratings")
    if not np.all(np.isfinite(x)):
        raise StatsError("scores must be finite numbers")
    if bounds is not None and (x.min() < bounds[0] or x.max() > bounds[1]):
        raise StatsError(f"scores must lie on the scale {bounds[0]:g} to {bounds[1]:g}")
    m = np.asarray(models, dtype=object)
    it = np.asarray(items, dtype=object)
    r = np.asarray(raters, dtype=object)
    grand_mean = float(x.mean())
    grand_sd = float(x.std(ddof=1)) if n > 1 else None
    rater_summary = {}
    for rater in dict.fromkeys(r.tolist()):
        own = x[r == rater]
        rater_summary[rater] = RaterSummary(
            float(own.mean()),
            float(own.mean()) - grand_mean,
            float(own.std(ddof=1)) if own.size > 1 else None,
            int(own.size),
        )
    y = normalise_per_rater(r, x) if normalise else x
    summaries = {}
    for model in dict.fromkeys(m.tolist()):
        mask = m == model
        values = y[mask]
        item_keys = it[mask]
        item_means = np.array(
            [values[item_keys == key].mean() for key in dict.fromkeys(item_keys.tolist())]
        )
        low, high = t_interval(values, level)
        ilow, ihigh = t_interval(item_means, level)
        if bounds is not None and not normalise:
            low, high = _clip(low, bounds), _clip(high, bounds)
            ilow, ihigh = _clip(ilow, bounds), _clip(ihigh, bounds)
        summaries[model] = MOSSummary(
            mean=float(values.mean()),
            sd=float(values.std(ddof=1)) if values.size > 1 else None,
            n=int(values.size),
            n_items=int(item_means.size),
            ci_low=low,
            ci_high=high,
            ci_items_low=ilow,
            ci_items_high=ihigh,
        )
    return MOSResult(summaries, rater_summary, normalise, grand_mean, grand_sd, level)
