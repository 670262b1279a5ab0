"""The human side of the leaderboard, from a study's votes as plain columns (no database here).

Pairwise studies: Bradley-Terry ratings with bootstrap CIs and CI-based rank ranges, online Elo,
win rates, the win-rate matrix and position bias. Rating studies: MOS with t intervals. Flag
studies: the share of rated images showing each failure mode, with Wilson intervals. For every
kind: Fleiss' kappa, Krippendorff's alpha, per-annotator quality (agreement with the others'
leave-one-out majority, attention-check accuracy, median response time) and the annotators an
exclusion rule drops, with the reasons. Attention-check votes never enter ratings; they only
give attention-check accuracy. Every figure says whether exclusions were applied.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.stats import (
    ExclusionRule,
    PositionBias,
    StatsError,
    annotator_quality,
    battles_from_records,
    bootstrap_bradley_terry,
    category_counts,
    exclude_annotators,
    fleiss_kappa,
    krippendorff_alpha,
    mean_opinion_scores,
    online_elo,
    position_bias,
    wilson_interval,
    win_tables,
)

BOOTSTRAP_ROUNDS = 1000
SEED = 0
MIRROR = {"left": "right", "right": "left", "tie": "tie", "both_bad": "both_bad"}
MANUAL_REASON = "excluded by an administrator"


@dataclass
class VoteLog:
    """A study's votes in time order, one entry per vote in every column."""

    kind: str  # pairwise | rating | flag
    vote_id: list[int] = field(default_factory=list)
    annotator: list[str] = field(default_factory=list)  # display handle
    assignment: list[int] = field(default_factory=list)
    check_kind: list[str | None] = field(default_factory=list)
    expected: list[str | None] = field(default_factory=list)
    repeat_of: list[int | None] = field(default_factory=list)
    choice: list[str | None] = field(default_factory=list)
    winner: list[str | None] = field(default_factory=list)
    left: list[str | None] = field(default_factory=list)  # generator names, pairwise
    right: list[str | None] = field(default_factory=list)
    left_image: list[int | None] = field(default_factory=list)
    right_image: list[int | None] = field(default_factory=list)
    generator: list[str | None] = field(default_factory=list)  # rating and flag studies
    image: list[int | None] = field(default_factory=list)
    rating: list[int | None] = field(default_factory=list)
    flags: list[list[str] | None] = field(default_factory=list)
    server_ms: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.vote_id)


@dataclass
class AnnotatorInfo:
    handle: str
    is_simulated: bool = False
    excluded: bool = False  # set by an administrator


@dataclass
class HumanSummary:
    """Everything the leaderboard shows about human judgements, as plain data."""

    kind: str
    exclusions_applied: bool
    n_votes_total: int
    n_votes_used: int
    n_attention_votes: int  # every attention-check vote (never in ratings)
    n_excluded_votes: int  # non-check votes of excluded annotators, when exclusions apply
    per_generator: dict[str, dict[str, Any]]
    human_score: dict[str, float]  # higher = better; drives ranking and the metric correlation
    human_score_label: str
    agreement: dict[str, Any]
    annotators: list[dict[str, Any]]
    win_matrix: dict[str, Any] | None
    mos_scores: dict[str, list[int]]
    flag_options: list[str]
    bootstrap: dict[str, Any]
    warnings: list[str]


def _none_if_nan(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _winner_image(log: VoteLog, k: int) -> Hashable:
    choice = log.choice[k]
    if choice == "left":
        return log.left_image[k]
    if choice == "right":
        return log.right_image[k]
    return choice


def _agreement_label(log: VoteLog, k: int) -> tuple[Hashable, Hashable]:
    """(item, label) of a non-check vote, independent of which side each image was shown on."""
    if log.kind == "pairwise":
        a, b = log.left_image[k], log.right_image[k]
        first, second = (a, b) if (a or 0) <= (b or 0) else (b, a)
        choice = log.choice[k]
        if choice in ("left", "right"):
            label = "first" if _winner_image(log, k) == first else "second"
        else:
            label = choice
        return (first, second), label
    if log.kind == "rating":
        return log.image[k], log.rating[k]
    # Flag studies: did the annotator see any failure at all (a set of modes rarely matches exactly).
    return log.image[k], "flagged" if log.flags[k] else "none"


def _check_outcome(log: VoteLog, k: int, by_assignment: dict[int, int]) -> bool | None:
    """Whether an attention-check vote was answered as expected (None: nothing to compare)."""
    expected = log.expected[k]
    degraded = log.check_kind[k] == "degraded"
    original = by_assignment.get(log.repeat_of[k]) if log.repeat_of[k] is not None else None
    if log.kind == "pairwise":
        if expected is not None:
            return log.choice[k] == expected
        if original is None:
            return None
        # Consistency: the same image (or the same kind of tie) chosen again, whatever the sides.
        return _winner_image(log, k) == _winner_image(log, original)
    if log.kind == "rating":
        if degraded:
            # A heavily degraded copy of a pool image deserves one of the two lowest scores.
            return log.rating[k] is not None and log.rating[k] <= 2
        if original is None or log.rating[k] is None or log.rating[original] is None:
            return None
        return abs(log.rating[k] - log.rating[original]) <= 1
    if degraded:
        # A heavily degraded image shows at least one failure (artifacts, at the very least).
        return bool(log.flags[k])
    if original is None:
        return None
    return bool(log.flags[k]) == bool(log.flags[original])


def default_rule(kind: str) -> ExclusionRule:
    """The exclusion rule per study kind: exact agreement on a 1-5 score is not expected, so
    rating studies judge annotators by attention checks and speed only."""
    if kind == "rating":
        return ExclusionRule(min_loo_agreement=None)
    return ExclusionRule()


def annotator_figures(
    log: VoteLog, annotators: dict[str, AnnotatorInfo], rule: ExclusionRule
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Quality figures of every annotator (on all their votes) and who the rule would drop."""
    by_assignment = {a: k for k, a in enumerate(log.assignment)}
    items, raters, labels, times = [], [], [], []
    gold: dict[Hashable, Hashable] = {}
    for k in range(len(log)):
        if log.check_kind[k] is None:
            item, label = _agreement_label(log, k)
        else:
            outcome = _check_outcome(log, k, by_assignment)
            if outcome is None:
                continue
            item = ("check", log.assignment[k])
            label, gold[item] = outcome, True
        items.append(item)
        raters.append(log.annotator[k])
        labels.append(label)
        times.append((log.server_ms[k] or 0) / 1000.0 if log.server_ms[k] is not None else math.nan)
    figures: dict[str, dict[str, Any]] = {}
    excluded: dict[str, list[str]] = {}
    if items:
        # Response times are all present for server-measured votes; NaN medians become None.
        quality = annotator_quality(items, raters, labels, gold=gold or None, response_s=times)
        dropped = exclude_annotators(quality, rule)
        for handle, q in quality.items():
            figures[handle] = {
                **q.to_dict(),
                "median_response_s": _none_if_nan(q.median_response_s),
            }
        excluded = {h: list(why) for h, why in dropped.excluded.items()}
    for handle, info in annotators.items():
        if info.excluded:
            excluded.setdefault(handle, []).insert(0, MANUAL_REASON)
    return figures, excluded


def _agreement_matrix(log: VoteLog, keep: list[int]) -> tuple[np.ndarray, list]:
    """items x rating-slots codes (NaN = missing): alpha and kappa only look within items."""
    per_item: dict[Hashable, list[Hashable]] = defaultdict(list)
    for k in keep:
        if log.check_kind[k] is not None:
            continue
        item, label = _agreement_label(log, k)
        per_item[item].append(label)
    if not per_item:
        return np.zeros((0, 0)), []
    categories = sorted({lab for labels in per_item.values() for lab in labels}, key=str)
    if log.kind == "rating":
        categories = sorted(categories)
    code = {c: float(c) if log.kind == "rating" else float(i) for i, c in enumerate(categories)}
    width = max(len(v) for v in per_item.values())
    matrix = np.full((len(per_item), width), np.nan)
    for row, labels in enumerate(per_item.values()):
        matrix[row, : len(labels)] = [code[lab] for lab in labels]
    return matrix, categories


def agreement_statistics(
    log: VoteLog, keep: list[int], raters_per_item: int | None
) -> dict[str, Any]:
    """Fleiss' kappa (items with the modal number of ratings) and Krippendorff's alpha (all)."""
    matrix, _categories = _agreement_matrix(log, keep)
    level = "ordinal" if log.kind == "rating" else "nominal"
    out: dict[str, Any] = {
        "fleiss_kappa": None,
        "fleiss_items": 0,
        "fleiss_raters_per_item": None,
        "krippendorff_alpha": None,
        "krippendorff_level": level,
        "n_items": int(matrix.shape[0]),
        "n_items_multi": int(((~np.isnan(matrix)).sum(axis=1) >= 2).sum()) if matrix.size else 0,
        "notes": {},
    }
    if matrix.size == 0:
        out["notes"]["krippendorff_alpha"] = "no votes yet"
        out["notes"]["fleiss_kappa"] = "no votes yet"
        return out
    try:
        out["krippendorff_alpha"] = krippendorff_alpha(matrix, level=level)
    except StatsError as exc:
        out["notes"]["krippendorff_alpha"] = str(exc)
    counts = (~np.isnan(matrix)).sum(axis=1)
    multi = counts[counts >= 2]
    if multi.size == 0:
        out["notes"]["fleiss_kappa"] = "no item has two or more ratings yet"
        return out
    # Fleiss needs equal ratings per item: use the study's target if items reached it, else the
    # most common count, and say how many items that covers.
    target = raters_per_item if raters_per_item and (counts == raters_per_item).any() else None
    if target is None:
        target = Counter(multi.tolist()).most_common(1)[0][0]
    rows = matrix[counts == target][:, :target]
    out["fleiss_items"] = int(rows.shape[0])
    out["fleiss_raters_per_item"] = int(target)
    try:
        out["fleiss_kappa"] = fleiss_kappa(category_counts(rows))
    except StatsError as exc:
        out["notes"]["fleiss_kappa"] = str(exc)
    return out


def _pairwise(log: VoteLog, keep: list[int], generators: list[str], rounds: int, seed: int):
    rows = [k for k in keep if log.winner[k] is not None and log.left[k] and log.right[k]]
    per = {g: {"votes": 0} for g in generators}
    warnings: list[str] = []
    if not rows:
        no_votes = PositionBias(0, 0, None, None, None, 0.95, False).to_dict()
        return per, {}, None, no_votes, warnings
    battles = battles_from_records(
        [log.left[k] for k in rows],
        [log.right[k] for k in rows],
        [log.winner[k] for k in rows],
    )
    names = list(battles.generators)
    boot = bootstrap_bradley_terry(battles, rounds=rounds, seed=seed)
    elo = online_elo(battles)
    tables = win_tables(battles, boot.ratings)
    votes = tables.votes.sum(axis=1)
    win_rate = tables.decisive_win_rate
    for i, name in enumerate(names):
        per[name] = {
            "bt": float(boot.ratings[i]),
            "bt_ci_low": float(boot.ci_low[i]),
            "bt_ci_high": float(boot.ci_high[i]),
            "rank": int(boot.rank[i]),
            "rank_worst": int(boot.rank_worst[i]),
            "elo": float(elo.ratings[i]),
            "win_rate": _none_if_nan(win_rate[i]),
            "votes": int(votes[i]),
            "wins": int(tables.wins[i].sum()),
            "ties": int(tables.ties[i].sum()),
            "beats": [names[j] for j in np.flatnonzero(boot.beats[i])],
        }
    warnings += list(boot.warnings)
    order = sorted(range(len(names)), key=lambda i: -boot.ratings[i])
    matrix = {
        "generators": [names[i] for i in order],
        "observed": [[_none_if_nan(tables.observed_win_rate[i, j]) for j in order] for i in order],
        "predicted": [
            [_none_if_nan(tables.predicted_win_rate[i, j]) for j in order] for i in order
        ],
        "votes": [[int(tables.votes[i, j]) for j in order] for i in order],
    }
    position = position_bias(battles).to_dict()
    score = {name: float(boot.ratings[i]) for i, name in enumerate(names)}
    return per, score, matrix, position, warnings


def _rating(log: VoteLog, keep: list[int], generators: list[str]):
    rows = [k for k in keep if log.rating[k] is not None and log.generator[k]]
    per: dict[str, dict[str, Any]] = {g: {"votes": 0} for g in generators}
    scores: dict[str, list[int]] = {g: [] for g in generators}
    if not rows:
        return per, {}, scores
    result = mean_opinion_scores(
        [log.generator[k] for k in rows],
        [log.image[k] for k in rows],
        [log.annotator[k] for k in rows],
        [log.rating[k] for k in rows],
    )
    for k in rows:
        scores.setdefault(log.generator[k], []).append(int(log.rating[k]))
    for name, summary in result.models.items():
        per[name] = {
            "mos": summary.mean,
            "mos_sd": summary.sd,
            "mos_ci_low": summary.ci_low,
            "mos_ci_high": summary.ci_high,
            "mos_ci_items_low": summary.ci_items_low,
            "mos_ci_items_high": summary.ci_items_high,
            "mos_items": summary.n_items,
            "votes": summary.n,
        }
    return per, {name: s.mean for name, s in result.models.items()}, scores


def _flags(log: VoteLog, keep: list[int], generators: list[str], options: list[str]):
    rows = [k for k in keep if log.flags[k] is not None and log.generator[k]]
    per: dict[str, dict[str, Any]] = {g: {"votes": 0, "flag_rates": {}} for g in generators}
    counts: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    for k in rows:
        name = log.generator[k]
        totals[name] += 1
        chosen = set(log.flags[k])
        counts[name].update(chosen)
        if chosen:
            counts[name]["__any__"] += 1
    score = {}
    for name in sorted(set(generators) | set(totals)):
        n = totals[name]
        rates = {}
        for mode in [*options, "__any__"]:
            hits = counts[name][mode]
            low, high = wilson_interval(hits, n) if n else (None, None)
            rates["any" if mode == "__any__" else mode] = {
                "rate": hits / n if n else None,
                "ci_low": low,
                "ci_high": high,
                "count": hits,
                "n": n,
            }
        per[name] = {"votes": n, "flag_rates": rates}
        if n:
            # Higher is better everywhere on the leaderboard: the share of images with no flag.
            score[name] = 1.0 - rates["any"]["rate"]
    return per, score


def summarise_votes(
    log: VoteLog,
    generators: list[str],
    annotators: dict[str, AnnotatorInfo],
    *,
    apply_exclusions: bool = True,
    rule: ExclusionRule | None = None,
    flag_options: list[str] | None = None,
    raters_per_item: int | None = None,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = SEED,
) -> HumanSummary:
    """Ratings, agreement and annotator quality of one study, with or without exclusions."""
    rule = rule or default_rule(log.kind)
    figures, excluded = annotator_figures(log, annotators, rule)
    dropped = set(excluded) if apply_exclusions else set()
    keep = [k for k in range(len(log)) if log.annotator[k] not in dropped]
    ratings_rows = [k for k in keep if log.check_kind[k] is None]
    checks = [k for k in keep if log.check_kind[k] is not None]
    by_assignment = {a: k for k, a in enumerate(log.assignment)}
    outcomes = [_check_outcome(log, k, by_assignment) for k in checks]
    scored = [o for o in outcomes if o is not None]
    attention = {
        "accuracy": (sum(scored) / len(scored)) if scored else None,
        "correct": int(sum(scored)),
        "n": len(scored),
        "by_kind": dict(Counter(log.check_kind[k] for k in checks)),
    }
    if scored:
        attention["ci_low"], attention["ci_high"] = wilson_interval(int(sum(scored)), len(scored))

    warnings: list[str] = []
    matrix = None
    mos_scores: dict[str, list[int]] = {}
    position: dict[str, Any] | None = None
    if log.kind == "pairwise":
        per, score, matrix, position, warnings = _pairwise(
            log, ratings_rows, generators, rounds, seed
        )
        label = "Bradley–Terry rating"
    elif log.kind == "rating":
        per, score, mos_scores = _rating(log, ratings_rows, generators)
        label = "mean opinion score"
    else:
        per, score = _flags(log, ratings_rows, generators, list(flag_options or []))
        label = "share of images with no failure flagged"

    agreement = agreement_statistics(log, ratings_rows, raters_per_item)
    agreement["position_bias"] = position
    agreement["attention_checks"] = attention
    agreement["exclusions_applied"] = apply_exclusions
    agreement["rule"] = rule.to_dict()
    agreement["excluded"] = [
        {
            "handle": h,
            "reasons": excluded[h],
            "is_simulated": annotators.get(h, AnnotatorInfo(h)).is_simulated,
        }
        for h in sorted(excluded)
    ]
    people = []
    for handle in sorted(set(annotators) | set(figures)):
        info = annotators.get(handle, AnnotatorInfo(handle))
        people.append(
            {
                "handle": handle,
                "is_simulated": info.is_simulated,
                "excluded": handle in excluded,
                "excluded_reasons": excluded.get(handle, []),
                **figures.get(handle, {"n_votes": 0}),
            }
        )
    return HumanSummary(
        kind=log.kind,
        exclusions_applied=apply_exclusions,
        n_votes_total=len(log),
        n_votes_used=len(ratings_rows),
        n_attention_votes=sum(1 for c in log.check_kind if c is not None),
        n_excluded_votes=sum(
            1 for k in range(len(log)) if log.check_kind[k] is None and log.annotator[k] in dropped
        ),
        per_generator=per,
        human_score=score,
        human_score_label=label,
        agreement=agreement,
        annotators=people,
        win_matrix=matrix,
        mos_scores=mos_scores,
        flag_options=list(flag_options or []),
        bootstrap={
            "rounds": rounds,
            "seed": seed,
            "level": 0.95,
            "method": "percentile",
        },
        warnings=warnings,
    )
