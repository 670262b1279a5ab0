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
from app.stats.position import wilson_interval

PAIRWISE_LABELS = ("left", "right", "tie", "both_bad")
LEVELS = ("nominal", "ordinal", "interval", "ratio")
CI_LEVEL = 0.95
# Above this share of one answer, kappa and alpha understate agreement (the kappa paradox).
PREVALENCE_NOTE_SHARE = 0.8


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
    """One annotator: votes, agreement with the others' majority, attention checks, speed.

    Every share comes with the upper end of its 95% Wilson interval (`*_upper`): the exclusion
    rule drops an annotator only when even that optimistic bound is below its threshold.
    """

    rater: str
    n_votes: int
    loo_agreement: float | None  # share of items where the label equals the others' plurality
    n_loo: int  # items where the others had a unique plurality label
    attention_accuracy: float | None
    n_attention: int
    median_response_s: float | None
    loo_upper: float | None = None
    attention_correct: int = 0
    attention_upper: float | None = None
    repeat_consistency: float | None = None
    n_repeat: int = 0
    repeat_upper: float | None = None

    def to_dict(self) -> dict:
        return {
            "n_votes": self.n_votes,
            "loo_agreement": self.loo_agreement,
            "n_loo": self.n_loo,
            "loo_upper": self.loo_upper,
            "attention_accuracy": self.attention_accuracy,
            "attention_correct": self.attention_correct,
            "n_attention": self.n_attention,
            "attention_upper": self.attention_upper,
            "repeat_consistency": self.repeat_consistency,
            "n_repeat": self.n_repeat,
            "repeat_upper": self.repeat_upper,
            "median_response_s": self.median_response_s,
        }


def _upper(hits: int, n: int, level: float = CI_LEVEL) -> float | None:
    return wilson_interval(hits, n, level)[1] if n else None


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
    repeat_items: set | frozenset | None = None,
) -> dict[str, AnnotatorQuality]:
    """Quality figures per annotator from long-format votes; `gold` maps attention-check items to
    their known answer; `response_s` gives each vote's response time in seconds. Gold items in
    `repeat_items` (repeats of an earlier answer) count as consistency, not as attention."""
    n = len(items)
    if len(raters) != n or len(labels) != n or (response_s is not None and len(response_s) != n):
        raise StatsError("items, raters, labels (and response_s) must have the same length")
    repeats = repeat_items or set()
    gold = gold or {}
    # Leave-one-out agreement compares judgements of real items only, never check answers.
    real = [k for k in range(n) if items[k] not in gold]
    loo = leave_one_out_agreement(
        [items[k] for k in real], [raters[k] for k in real], [labels[k] for k in real]
    )
    by_rater: dict[Hashable, list[int]] = {}
    for k, rater in enumerate(raters):
        by_rater.setdefault(rater, []).append(k)
    result = {}
    for rater, idx in by_rater.items():
        checks = [labels[k] == gold[items[k]] for k in idx if items[k] in gold]
        kinds = [items[k] in repeats for k in idx if items[k] in gold]
        attention = [ok for ok, is_repeat in zip(checks, kinds) if not is_repeat]
        consistent = [ok for ok, is_repeat in zip(checks, kinds) if is_repeat]
        times = [float(response_s[k]) for k in idx] if response_s is not None else []
        times = [t for t in times if not math.isnan(t)]
        agreement, n_loo = loo.get(rater, (None, 0))
        hits = round(agreement * n_loo) if agreement is not None else 0
        result[rater] = AnnotatorQuality(
            rater=str(rater),
            n_votes=len(idx),
            loo_agreement=agreement,
            n_loo=n_loo,
            attention_accuracy=(sum(attention) / len(attention)) if attention else None,
            n_attention=len(attention),
            median_response_s=float(np.median(times)) if times else None,
            loo_upper=_upper(hits, n_loo),
            attention_correct=int(sum(attention)),
            attention_upper=_upper(int(sum(attention)), len(attention)),
            repeat_consistency=(sum(consistent) / len(consistent)) if consistent else None,
            n_repeat=len(consistent),
            repeat_upper=_upper(int(sum(consistent)), len(consistent)),
        )
    return result


@dataclass(frozen=True)
class ExclusionRule:
    """Thresholds below which an annotator is dropped; None disables a criterion.

    Shares are judged by the upper end of their 95% Wilson interval, not the point estimate: an
    annotator is dropped only when the data make it unlikely (one-sided 2.5%) that their true
    share reaches the threshold, i.e. when the lower confidence bound of their failure rate
    exceeds 1 - threshold. A share counts only once it rests on enough answers
    (`min_attention_checks` checks of a kind, `min_loo_items` comparable items).
    """

    min_loo_agreement: float | None = 0.35
    min_attention_accuracy: float | None = 0.8
    min_median_response_s: float | None = 1.0
    # Too few comparable items say nothing about an annotator: the agreement rule needs this many.
    min_loo_items: int = 10
    min_attention_checks: int = 5
    # Repeats of a close pair are answered differently by honest people; chance is the bar.
    min_repeat_consistency: float | None = 0.5

    def to_dict(self) -> dict:
        return {
            "min_loo_agreement": self.min_loo_agreement,
            "min_attention_accuracy": self.min_attention_accuracy,
            "min_repeat_consistency": self.min_repeat_consistency,
            "min_median_response_s": self.min_median_response_s,
            "min_loo_items": self.min_loo_items,
            "min_attention_checks": self.min_attention_checks,
            "level": CI_LEVEL,
            "bound": "upper end of the 95% Wilson interval must reach the threshold",
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
    """Apply the thresholds of `rule` to per-annotator quality figures (see ExclusionRule)."""
    excluded: dict[str, tuple[str, ...]] = {}
    for rater, q in quality.items():
        reasons = []
        if (
            rule.min_loo_agreement is not None
            and q.loo_upper is not None
            and q.n_loo >= rule.min_loo_items
            and q.loo_upper < rule.min_loo_agreement
        ):
            reasons.append(
                f"agreement with the others' majority {q.loo_agreement:.2f} over {q.n_loo} items "
                f"(95% upper bound {q.loo_upper:.2f}) < {rule.min_loo_agreement}"
            )
        if (
            rule.min_attention_accuracy is not None
            and q.attention_upper is not None
            and q.n_attention >= rule.min_attention_checks
            and q.attention_upper < rule.min_attention_accuracy
        ):
            reasons.append(
                f"attention-check accuracy {q.attention_correct}/{q.n_attention} "
                f"(95% upper bound {q.attention_upper:.2f}) < {rule.min_attention_accuracy}"
            )
        if (
            rule.min_repeat_consistency is not None
            and q.repeat_upper is not None
            and q.n_repeat >= rule.min_attention_checks
            and q.repeat_upper < rule.min_repeat_consistency
        ):
            consistent = round(q.repeat_consistency * q.n_repeat)
            reasons.append(
                f"repeated items answered consistently {consistent}/{q.n_repeat} "
                f"(95% upper bound {q.repeat_upper:.2f}) < {rule.min_repeat_consistency}"
            )
        if (
            rule.min_median_response_s is not None
            and q.median_response_s is not None
            and q.n_votes >= rule.min_attention_checks
            and q.median_response_s < rule.min_median_response_s
        ):
            reasons.append(
                f"median response time {q.median_response_s:.2f} s < {rule.min_median_response_s} s"
            )
        if reasons:
            excluded[rater] = tuple(reasons)
    return Exclusions(excluded, rule)


# ----------------------------------------------------------------------------- study agreement


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement of one study's judgements, with the sample each statistic used.

    `fleiss_kappa` is Fleiss' kappa generalised to a varying number of ratings per item (Gwet
    2014, Handbook of Inter-Rater Reliability, ch. 2; identical to Fleiss 1971 when every item
    has the same number), over every item with at least two ratings; `percent_agreement` is the
    observed agreement of that formula (the share of agreeing rating pairs within an item,
    averaged over items). Krippendorff's alpha uses the same items (single ratings are not
    pairable).
    """

    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    percent_agreement: float | None
    level: str
    n_items: int  # items with at least two ratings: what every statistic here used
    n_items_total: int
    n_ratings: int  # ratings on those items
    n_raters: int  # distinct raters among those ratings
    raters_per_item: tuple[int, int] | None  # (min, max) ratings per used item
    top_category: str | None
    top_share: float | None
    notes: dict[str, str]

    def to_dict(self) -> dict:
        return {
            "fleiss_kappa": self.fleiss_kappa,
            "krippendorff_alpha": self.krippendorff_alpha,
            "percent_agreement": self.percent_agreement,
            "level": self.level,
            "n_items": self.n_items,
            "n_items_total": self.n_items_total,
            "n_ratings": self.n_ratings,
            "n_raters": self.n_raters,
            "raters_per_item": list(self.raters_per_item) if self.raters_per_item else None,
            "top_category": self.top_category,
            "top_share": self.top_share,
            "notes": dict(self.notes),
        }


def fleiss_kappa_generalised(codes: np.ndarray) -> tuple[float, float]:
    """(kappa, observed agreement) of an items x slots code matrix (NaN = missing), over items
    with at least two ratings: p_o = mean_i sum_k r_ik (r_ik - 1) / (r_i (r_i - 1)),
    p_e = sum_k pi_k^2 with pi_k = mean_i r_ik / r_i (Gwet 2014, eq. 2.8)."""
    codes = np.asarray(codes, dtype=np.float64)
    counts_per_item = (~np.isnan(codes)).sum(axis=1)
    rows = codes[counts_per_item >= 2]
    if rows.shape[0] == 0:
        raise DegenerateDataError("Fleiss' kappa needs an item with at least two ratings")
    table = category_counts(rows)
    r = table.sum(axis=1)
    p_o = float(((table * (table - 1)).sum(axis=1) / (r * (r - 1))).mean())
    pi = (table / r[:, None]).mean(axis=0)
    p_e = float((pi * pi).sum())
    if p_e >= 1.0 - 1e-15:
        raise DegenerateDataError("Fleiss' kappa is 0/0: every rating is in the same category")
    return float((p_o - p_e) / (1.0 - p_e)), p_o


def study_agreement(
    items: Sequence[Hashable],
    raters: Sequence[Hashable],
    labels: Sequence[Hashable],
    level: str = "nominal",
) -> AgreementSummary:
    """Fleiss' kappa, Krippendorff's alpha and raw agreement of long-format judgements (one row
    per rating). The leaderboard and `arena agreement` both call this on the same rows."""
    if level not in LEVELS:
        raise StatsError(f"level must be one of {LEVELS}")
    per_item: dict[Hashable, dict[Hashable, Hashable]] = {}
    for item, rater, label in zip(items, raters, labels, strict=True):
        if _missing(label):
            continue
        per_item.setdefault(item, {})[rater] = label
    notes: dict[str, str] = {}
    used = {i: v for i, v in per_item.items() if len(v) >= 2}
    empty = AgreementSummary(
        None, None, None, level, 0, len(per_item), 0, 0, None, None, None, notes
    )
    if not used:
        reason = "no votes yet" if not per_item else "no item has two or more ratings yet"
        notes.update(fleiss_kappa=reason, krippendorff_alpha=reason, percent_agreement=reason)
        return empty
    rater_names = sorted({r for v in used.values() for r in v}, key=str)
    column = {r: k for k, r in enumerate(rater_names)}
    present = [lab for v in used.values() for lab in v.values()]
    order = _label_order(set(present), None)
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in order)
    code = {c: (float(c) if numeric else float(k)) for k, c in enumerate(order)}
    matrix = np.full((len(used), len(rater_names)), np.nan)
    for row, votes in enumerate(used.values()):
        for rater, label in votes.items():
            matrix[row, column[rater]] = code[label]
    kappa = alpha = p_o = None
    try:
        kappa, p_o = fleiss_kappa_generalised(matrix)
    except StatsError as exc:
        notes["fleiss_kappa"] = str(exc)
        # Every rating in one category: perfect observed agreement, kappa undefined.
        p_o = 1.0 if len(order) == 1 else None
    try:
        alpha = krippendorff_alpha(matrix, level=level)
    except StatsError as exc:
        notes["krippendorff_alpha"] = str(exc)
    counts = Counter(present)
    top, top_n = counts.most_common(1)[0]
    share = top_n / len(present)
    if share >= PREVALENCE_NOTE_SHARE and len(order) > 1:
        notes["prevalence"] = (
            f"{share:.0%} of the ratings are {top!r}: with one answer this prevalent, kappa and "
            "alpha can be low although raters mostly agree (the kappa paradox, Feinstein & "
            "Cicchetti 1990); read them beside the raw agreement"
        )
    sizes = [len(v) for v in used.values()]
    return AgreementSummary(
        kappa,
        alpha,
        p_o,
        level,
        len(used),
        len(per_item),
        len(present),
        len(rater_names),
        (min(sizes), max(sizes)),
        str(top),
        share,
        notes,
    )
