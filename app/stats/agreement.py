"""Inter-annotator agreement and annotator quality.

Fleiss' kappa (Fleiss 1971, Psychol. Bull. 76:378; the statsmodels fleiss_kappa formula),
Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"; computed by
the `krippendorff` package, with input checks so that degenerate data raise instead of returning
NaN), agreement of each annotator with the leave-one-out majority of the others, attention-check
accuracy, median response time, and a threshold rule that says which annotators to drop and why.

Ratings are an items x raters matrix of labels; None (or NaN) marks a missing rating.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import krippendorff
import numpy as np

from app.stats.exceptions import DegenerateDataError, StatsError

PAIRWISE_LABELS = ("left", "right", "tie", "both_bad")
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _label_order(labels: set, categories: Sequence | None) -> list:
    if categories is not None:
        unknown = labels - set(categories)
        if unknown:
            raise StatsError(f"labels not among the categories: {sorted(map(str, unknown))}")
        return list(categories)
    # Numbers sort numerically (the 1-5 scale); known pairwise labels in their canonical order.
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in labels):
        return sorted(labels)
    if labels <= set(PAIRWISE_LABELS):
        return [c for c in PAIRWISE_LABELS if c in labels]
    return sorted(labels, key=str)


def encode_ratings(
    ratings: Sequence[Sequence], categories: Sequence | None = None
) -> tuple[np.ndarray, list]:
    """items x raters labels -> float codes (NaN = missing) and the category order.

    Numeric labels keep their values (so interval/ratio distances are the real ones); other
    labels get codes 0..C-1 in category order (the order used by the ordinal level).
    """
    rows = [list(r) for r in ratings]
    if not rows:
        raise DegenerateDataError("no items")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise StatsError("every item must have one entry per rater (use None for missing)")
    present = {v for r in rows for v in r if not _missing(v)}
    order = _label_order(present, categories)
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in order)
    code = {c: (float(c) if numeric else float(i)) for i, c in enumerate(order)}
    data = np.array(
        [[np.nan if _missing(v) else code[v] for v in r] for r in rows], dtype=np.float64
    )
    return data, order


def category_counts(codes: np.ndarray) -> np.ndarray:
    """items x categories counts from items x raters codes (statsmodels aggregate_raters)."""
    values = np.unique(codes[~np.isnan(codes)])
    return np.stack([(codes == v).sum(axis=1) for v in values], axis=1).astype(np.float64)


def fleiss_kappa(table) -> float:
    """Fleiss' kappa from an items x categories count table with equal raters per item (Fleiss 1971)."""
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        raise DegenerateDataError("Fleiss' kappa needs at least one item")
    per_item = table.sum(axis=1)
    n_raters = per_item[0]
    if np.any(per_item != n_raters):
        raise StatsError(
            "Fleiss' kappa needs the same number of ratings on every item; "
            "use Krippendorff's alpha for missing ratings"
        )
    if n_raters < 2:
        raise DegenerateDataError("Fleiss' kappa needs at least two ratings per item")
    p_cat = table.sum(axis=0) / table.sum()
    p_item = ((table * table).sum(axis=1) - n_raters) / (n_raters * (n_raters - 1.0))
    p_bar = p_item.mean()
    p_e = float((p_cat * p_cat).sum())
    if p_e >= 1.0 - 1e-15:
        raise DegenerateDataError("Fleiss' kappa is 0/0: every rating is in the same category")
    return float((p_bar - p_e) / (1.0 - p_e))


def fleiss_kappa_from_ratings(
    ratings: Sequence[Sequence], categories: Sequence | None = None
) -> float:
    """Fleiss' kappa from an items x raters label matrix (no missing ratings allowed)."""
    codes, _ = encode_ratings(ratings, categories)
    if np.isnan(codes).any():
        raise StatsError(
            "Fleiss' kappa needs the same number of ratings on every item; "
            "use Krippendorff's alpha for missing ratings"
        )
    return fleiss_kappa(category_counts(codes))


def krippendorff_alpha(
    ratings: Sequence[Sequence] | np.ndarray,
    level: str = "nominal",
    categories: Sequence | None = None,
) -> float:
    """Krippendorff's alpha over an items x raters matrix, missing ratings allowed (Krippendorff 2011)."""
    if level not in LEVELS:
        raise StatsError(f"level must be one of {LEVELS}")
    if isinstance(ratings, np.ndarray) and ratings.dtype.kind == "f":
        codes = np.array(ratings, dtype=np.float64)
    else:
        codes, _ = encode_ratings(ratings, categories)
    if codes.ndim != 2 or codes.size == 0:
        raise DegenerateDataError("no ratings")
    pairable = (~np.isnan(codes)).sum(axis=1) >= 2
    if not pairable.any():
        raise DegenerateDataError("Krippendorff's alpha needs an item with at least two ratings")
    values = np.unique(codes[pairable][~np.isnan(codes[pairable])])
    if values.size < 2:
        raise DegenerateDataError(
            "Krippendorff's alpha is 0/0: every pairable rating has the same value"
        )
    # The package takes raters x items; its default level is interval, so always pass it.
    return float(krippendorff.alpha(reliability_data=codes.T, level_of_measurement=level))


# ----------------------------------------------------------------------------- annotators


@dataclass(frozen=True)
class AnnotatorQuality:
    """One annotator: votes, agreement with the others' majority, attention checks, speed."""

    rater: str
    n_votes: int
    loo_agreement: float | None  # share of items where the label equals the others' plurality
    n_loo: int  # items where the others had a unique plurality label
    attention_accuracy: float | None
    n_attention: int
    median_response_s: float | None

    def to_dict(self) -> dict:
        return {
            "n_votes": self.n_votes,
            "loo_agreement": self.loo_agreement,
            "n_loo": self.n_loo,
            "attention_accuracy": self.attention_accuracy,
            "n_attention": self.n_attention,
            "median_response_s": self.median_response_s,
        }


def leave_one_out_agreement(
    items: Sequence[Hashable], raters: Sequence[Hashable], labels: Sequence[Hashable]
) -> dict:
    """Per rater: (agreement, n) with the plurality label of the other raters on the same item.

    Items where the others have no unique plurality (a tie or nobody else) are not counted.
    """
    by_item: dict[Hashable, list[tuple[Hashable, Hashable]]] = {}
    for item, rater, label in zip(items, raters, labels):
        by_item.setdefault(item, []).append((rater, label))
    hits: Counter = Counter()
    counted: Counter = Counter()
    for votes in by_item.values():
        if len(votes) < 2:
            continue
        # The others' counts are the item's counts minus this vote: one count per item, not one
        # per vote (the same plurality, in O(votes) instead of O(votes^2) per item).
        totals = Counter(lab for _, lab in votes)
        for rater, label in votes:
            totals[label] -= 1
            top_n = max(totals.values())
            leaders = [lab for lab, n in totals.items() if n == top_n]
            totals[label] += 1
            if len(leaders) != 1:
                continue
            counted[rater] += 1
            hits[rater] += int(label == leaders[0])
    return {
        r: ((hits[r] / counted[r]) if counted[r] else None, counted[r])
        for r in dict.fromkeys(raters)
    }


def annotator_quality(
    items: Sequence[Hashable],
    raters: Sequence[Hashable],
    labels: Sequence[Hashable],
    *,
    gold: Mapping[Hashable, Hashable] | None = None,
    response_s: Sequence[float] | None = None,
) -> dict[str, AnnotatorQuality]:
    """Quality figures per annotator from long-format votes; `gold` maps attention-check items to
    their known answer; `response_s` gives each vote's response time in seconds."""
    n = len(items)
    if len(raters) != n or len(labels) != n or (response_s is not None and len(response_s) != n):
        raise StatsError("items, raters, labels (and response_s) must have the same length")
    loo = leave_one_out_agreement(items, raters, labels)
    by_rater: dict[Hashable, list[int]] = {}
    for k, rater in enumerate(raters):
        by_rater.setdefault(rater, []).append(k)
    result = {}
    for rater, idx in by_rater.items():
        checks = [labels[k] == gold[items[k]] for k in idx if items[k] in gold] if gold else []
        times = [float(response_s[k]) for k in idx] if response_s is not None else []
        agreement, n_loo = loo[rater]
        result[rater] = AnnotatorQuality(
            rater=str(rater),
            n_votes=len(idx),
            loo_agreement=agreement,
            n_loo=n_loo,
            attention_accuracy=(sum(checks) / len(checks)) if checks else None,
            n_attention=len(checks),
            median_response_s=float(np.median(times)) if times else None,
        )
    return result


@dataclass(frozen=True)
class ExclusionRule:
    """Thresholds below which an annotator is dropped; None disables a criterion."""

    min_loo_agreement: float | None = 0.5
    min_attention_accuracy: float | None = 0.8
    min_median_response_s: float | None = 1.0
    # Too few comparable items say nothing about an annotator: the agreement rule needs this many.
    min_loo_items: int = 10

    def to_dict(self) -> dict:
        return {
            "min_loo_agreement": self.min_loo_agreement,
            "min_attention_accuracy": self.min_attention_accuracy,
            "min_median_response_s": self.min_median_response_s,
            "min_loo_items": self.min_loo_items,
        }


@dataclass(frozen=True)
class Exclusions:
    """Which annotators to drop, each with its reasons, and the rule that decided it."""

    excluded: dict[str, tuple[str, ...]]
    rule: ExclusionRule = field(default_factory=ExclusionRule)

    def to_dict(self) -> dict:
        return {
            "excluded": {r: list(why) for r, why in self.excluded.items()},
            "rule": self.rule.to_dict(),
        }


def exclude_annotators(
    quality: Mapping[str, AnnotatorQuality], rule: ExclusionRule = ExclusionRule()
) -> Exclusions:
    """Apply the thresholds of `rule` to per-annotator quality figures."""
    excluded: dict[str, tuple[str, ...]] = {}
    for rater, q in quality.items():
        reasons = []
        if (
            rule.min_loo_agreement is not None
            and q.loo_agreement is not None
            and q.n_loo >= rule.min_loo_items
            and q.loo_agreement < rule.min_loo_agreement
        ):
            reasons.append(
                f"agreement with the others' majority {q.loo_agreement:.2f} < {rule.min_loo_agreement}"
            )
        if (
            rule.min_attention_accuracy is not None
            and q.attention_accuracy is not None
            and q.attention_accuracy < rule.min_attention_accuracy
        ):
            reasons.append(
                f"attention-check accuracy {q.attention_accuracy:.2f} < {rule.min_attention_accuracy}"
            )
        if (
            rule.min_median_response_s is not None
            and q.median_response_s is not None
            and q.median_response_s < rule.min_median_response_s
        ):
            reasons.append(
                f"median response time {q.median_response_s:.2f} s < {rule.min_median_response_s} s"
            )
        if reasons:
            excluded[rater] = tuple(reasons)
    return Exclusions(excluded, rule)
