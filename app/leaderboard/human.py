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

from app.models.enums import CheckKind, ExclusionAction, StudyKind
from app.stats import (
    AgreementSummary,
    ExclusionRule,
    PositionBias,
    annotator_quality,
    battles_from_records,
    bootstrap_bradley_terry,
    exclude_annotators,
    mean_opinion_scores,
    online_elo,
    position_bias,
    study_agreement,
    wilson_interval,
    win_tables,
)
from app.stats.bootstrap import BOOTSTRAP_ROUNDS, CI_LEVEL

SEED = 0
MIRROR = {"left": "right", "right": "left", "tie": "tie", "both_bad": "both_bad"}
MANUAL_REASON = "excluded by an administrator"
REINSTATED = "reinstated by an administrator"
# Scores of a rating study: MOS intervals are clipped to this scale.
RATING_SCALE = (1.0, 5.0)


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
    # What exports need besides the numbers (optional for callers that build logs by hand).
    prompt_ref: list[str | None] = field(default_factory=list)  # the prompt's external id
    # Degraded checks: whether the clean side is a real reference image (not a generator's).
    clean_reference: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.vote_id)


@dataclass
class AnnotatorInfo:
    handle: str
    is_simulated: bool = False
    override: str | None = None  # an administrator's "exclude" or "reinstate"
    note: str | None = None

    @property
    def excluded(self) -> bool:
        """Excluded by an administrator (whatever the rule says)."""
        return self.override == ExclusionAction.exclude


@dataclass(frozen=True)
class ExclusionStatus:
    """One annotator's exclusion: the rule's reasons, an administrator's override, the outcome."""

    handle: str
    excluded: bool
    reasons: tuple[str, ...]  # why excluded (empty when not excluded)
    automatic_reasons: tuple[str, ...]  # what the rule says, whatever the override
    override: str | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "excluded": self.excluded,
            "excluded_reasons": list(self.reasons),
            "automatic_reasons": list(self.automatic_reasons),
            "override": self.override,
            "override_note": self.note,
        }


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


def judgement(
    kind: str,
    *,
    prompt: str | None,
    left: str | None,
    right: str | None,
    choice: str | None,
    image: Hashable,
    rating: int | None,
    flags: list[str] | None,
) -> tuple[str, Hashable]:
    """(item, label) of a vote on a real item, free of sides, as agreement statistics and the
    votes export both use it: pairwise items are (prompt, generator pair) and labels name the
    generator that won (or tie / both_bad); rating items are images labelled with the score;
    flag items are images labelled "flagged" or "none" (a set of modes rarely matches exactly)."""
    if kind == StudyKind.pairwise:
        a, b = sorted((left or "", right or ""))
        label = left if choice == "left" else right if choice == "right" else choice
        return f"{prompt}|{a}|{b}", label
    if kind == StudyKind.rating:
        return str(image), rating
    return str(image), "flagged" if flags else "none"


def _agreement_label(log: VoteLog, k: int) -> tuple[Hashable, Hashable]:
    prompt = log.prompt_ref[k] if log.prompt_ref else None
    return judgement(
        log.kind,
        prompt=prompt,
        left=log.left[k],
        right=log.right[k],
        choice=log.choice[k],
        image=log.image[k],
        rating=log.rating[k],
        flags=log.flags[k],
    )


def check_outcome(log: VoteLog, k: int, by_assignment: dict[int, int]) -> bool | None:
    """Whether an attention-check vote was answered attentively (None: inconclusive).

    Degraded pairwise check: the clean side must win; choosing the degraded copy fails; "tie" or
    "both bad" fails only when the clean side is a real reference image, since a generated
    image can honestly look bad too. Repeats (sides swapped for pairwise): the same image must
    win (a tie or "both bad" on either showing is inconclusive); a rating within one point; a
    flag answer flagged-or-not as before. Degraded rating check: 1-2 passes, 4-5 fails, 3 is
    inconclusive; degraded flag check: any flag passes.
    """
    degraded = log.check_kind[k] == CheckKind.degraded
    reference = bool(log.clean_reference[k]) if log.clean_reference else False
    original = by_assignment.get(log.repeat_of[k]) if log.repeat_of[k] is not None else None
    if log.kind == StudyKind.pairwise:
        choice = log.choice[k]
        if degraded:
            expected = log.expected[k]
            if expected is None:
                return None
            if choice == expected:
                return True
            if choice in ("left", "right") or reference:
                return False
            return None
        if original is None:
            return None
        if choice not in ("left", "right") or log.choice[original] not in ("left", "right"):
            return None
        return _winner_image(log, k) == _winner_image(log, original)
    if log.kind == StudyKind.rating:
        rating = log.rating[k]
        if degraded:
            if rating is None or rating == 3:
                return None
            return rating <= 2
        if original is None or rating is None or log.rating[original] is None:
            return None
        return abs(rating - log.rating[original]) <= 1
    if degraded:
        return bool(log.flags[k])
    if original is None:
        return None
    return bool(log.flags[k]) == bool(log.flags[original])


def default_rule(kind: str) -> ExclusionRule:
    """The exclusion rule per study kind: exact agreement on a 1-5 score is not expected, so
    rating studies judge annotators by attention checks and speed only."""
    if kind == StudyKind.rating:
        return ExclusionRule(min_loo_agreement=None)
    return ExclusionRule()


def annotator_figures(
    log: VoteLog, annotators: dict[str, AnnotatorInfo], rule: ExclusionRule
) -> tuple[dict[str, dict[str, Any]], dict[str, ExclusionStatus]]:
    """Quality figures of every annotator (on all their votes) and their exclusion status: the
    rule's verdict, overridden by an administrator's exclude or reinstate. This is the one place
    that decides who is excluded; the leaderboard, /annotators and every export read it."""
    by_assignment = {a: k for k, a in enumerate(log.assignment)}
    items, raters, labels, times = [], [], [], []
    gold: dict[Hashable, Hashable] = {}
    repeats: set[Hashable] = set()
    inconclusive: Counter = Counter()
    real_votes: Counter = Counter()
    for k in range(len(log)):
        if log.check_kind[k] is None:
            item, label = _agreement_label(log, k)
            real_votes[log.annotator[k]] += 1
        else:
            outcome = check_outcome(log, k, by_assignment)
            if outcome is None:
                inconclusive[log.annotator[k]] += 1
                continue
            item = ("check", log.assignment[k])
            label, gold[item] = outcome, True
            if log.check_kind[k] == CheckKind.repeat:
                repeats.add(item)
        items.append(item)
        raters.append(log.annotator[k])
        labels.append(label)
        times.append((log.server_ms[k] or 0) / 1000.0 if log.server_ms[k] is not None else math.nan)
    figures: dict[str, dict[str, Any]] = {}
    automatic: dict[str, tuple[str, ...]] = {}
    total_real = sum(real_votes.values())
    if items:
        quality = annotator_quality(
            items, raters, labels, gold=gold or None, response_s=times, repeat_items=repeats
        )
        automatic = dict(exclude_annotators(quality, rule).excluded)
        for handle, q in quality.items():
            figures[handle] = {
                **q.to_dict(),
                "median_response_s": _none_if_nan(q.median_response_s),
                "attention_inconclusive": inconclusive[handle],
                "vote_share": real_votes[handle] / total_real if total_real else None,
            }
    status: dict[str, ExclusionStatus] = {}
    for handle in sorted(set(annotators) | set(figures) | set(inconclusive), key=str):
        info = annotators.get(handle, AnnotatorInfo(handle))
        auto = tuple(automatic.get(handle, ()))
        if info.override == ExclusionAction.exclude:
            reasons = (MANUAL_REASON + (f": {info.note}" if info.note else ""), *auto)
        elif info.override == ExclusionAction.reinstate:
            reasons = ()
        else:
            reasons = auto
        status[handle] = ExclusionStatus(
            handle, bool(reasons), reasons, auto, info.override, info.note
        )
    return figures, status


def agreement_statistics(log: VoteLog, keep: list[int]) -> dict[str, Any]:
    """Fleiss' kappa (generalised to unequal raters per item), Krippendorff's alpha and raw
    agreement over every real item with at least two ratings, with the sample each used."""
    items, raters, labels = [], [], []
    for k in keep:
        if log.check_kind[k] is not None:
            continue
        item, label = _agreement_label(log, k)
        items.append(item)
        raters.append(log.annotator[k])
        labels.append(label)
    level = "ordinal" if log.kind == StudyKind.rating else "nominal"
    summary: AgreementSummary = study_agreement(items, raters, labels, level=level)
    out = summary.to_dict()
    out["krippendorff_level"] = out.pop("level")
    out["labels"] = (
        "the generator that won (or tie / both bad), whatever side it was shown on"
        if log.kind == StudyKind.pairwise
        else "the score"
        if log.kind == StudyKind.rating
        else "flagged or not"
    )
    return out


def _pairwise(log: VoteLog, keep: list[int], generators: list[str], rounds: int, seed: int):
    rows = [k for k in keep if log.winner[k] is not None and log.left[k] and log.right[k]]
    per = {g: {"votes": 0} for g in generators}
    warnings: list[str] = []
    if not rows:
        no_votes = PositionBias(0, 0, None, None, None, CI_LEVEL, False).to_dict()
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
    ties: Counter = Counter()
    both_bad: Counter = Counter()
    for k in rows:
        if log.choice[k] in ("tie", "both_bad"):
            counter = ties if log.choice[k] == "tie" else both_bad
            counter[log.left[k]] += 1
            counter[log.right[k]] += 1
    separation = boot.separation_notes()
    for i, name in enumerate(names):
        n = int(votes[i])
        low, high = float(boot.ci_low[i]), float(boot.ci_high[i])
        per[name] = {
            "bt": float(boot.ratings[i]),
            # An unbounded side is null here and named in bt_ci_unbounded (JSON has no infinity).
            "bt_ci_low": low if math.isfinite(low) else None,
            "bt_ci_high": high if math.isfinite(high) else None,
            "bt_ci_unbounded": (
                "both"
                if not math.isfinite(low) and not math.isfinite(high)
                else "low"
                if not math.isfinite(low)
                else "high"
                if not math.isfinite(high)
                else None
            ),
            "separation": separation.get(name),
            "rank": int(boot.rank[i]),
            "rank_worst": int(boot.rank_worst[i]),
            "elo": float(elo.ratings[i]),
            "win_rate": _none_if_nan(win_rate[i]),
            "votes": int(votes[i]),
            "wins": int(tables.wins[i].sum()),
            "ties": ties[name],
            "tie_rate": ties[name] / n if n else None,
            "both_bad": both_bad[name],
            "both_bad_rate": both_bad[name] / n if n else None,
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
        bounds=RATING_SCALE,
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
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = SEED,
) -> HumanSummary:
    """Ratings, agreement and annotator quality of one study, with or without exclusions."""
    rule = rule or default_rule(log.kind)
    figures, status = annotator_figures(log, annotators, rule)
    excluded = {h: list(s.reasons) for h, s in status.items() if s.excluded}
    dropped = set(excluded) if apply_exclusions else set()
    keep = [k for k in range(len(log)) if log.annotator[k] not in dropped]
    ratings_rows = [k for k in keep if log.check_kind[k] is None]
    checks = [k for k in keep if log.check_kind[k] is not None]
    by_assignment = {a: k for k, a in enumerate(log.assignment)}
    outcomes = [check_outcome(log, k, by_assignment) for k in checks]
    scored = [
        o
        for o, k in zip(outcomes, checks)
        if o is not None and log.check_kind[k] != CheckKind.repeat
    ]
    repeats = [
        o
        for o, k in zip(outcomes, checks)
        if o is not None and log.check_kind[k] == CheckKind.repeat
    ]
    attention = {
        "accuracy": (sum(scored) / len(scored)) if scored else None,
        "correct": int(sum(scored)),
        "n": len(scored),
        "inconclusive": sum(1 for o in outcomes if o is None),
        "repeat_consistency": (sum(repeats) / len(repeats)) if repeats else None,
        "repeat_consistent": int(sum(repeats)),
        "n_repeat": len(repeats),
        "by_kind": dict(Counter(log.check_kind[k] for k in checks)),
    }
    if scored:
        attention["ci_low"], attention["ci_high"] = wilson_interval(int(sum(scored)), len(scored))

    warnings: list[str] = []
    matrix = None
    mos_scores: dict[str, list[int]] = {}
    position: dict[str, Any] | None = None
    if log.kind == StudyKind.pairwise:
        per, score, matrix, position, warnings = _pairwise(
            log, ratings_rows, generators, rounds, seed
        )
        label = "Bradley–Terry rating"
    elif log.kind == StudyKind.rating:
        per, score, mos_scores = _rating(log, ratings_rows, generators)
        label = "mean opinion score"
    else:
        per, score = _flags(log, ratings_rows, generators, list(flag_options or []))
        label = "share of images with no failure flagged"

    agreement = agreement_statistics(log, ratings_rows)
    agreement["position_bias"] = position
    agreement["attention_checks"] = attention
    agreement["exclusions_applied"] = apply_exclusions
    agreement["rule"] = rule.to_dict()
    agreement["excluded"] = [
        {
            "handle": h,
            "reasons": excluded[h],
            "is_simulated": annotators.get(h, AnnotatorInfo(h)).is_simulated,
            "override": status[h].override,
        }
        for h in sorted(excluded)
    ]
    agreement["reinstated"] = [
        {"handle": h, "automatic_reasons": list(st.automatic_reasons), "note": st.note}
        for h, st in sorted(status.items())
        if st.override == ExclusionAction.reinstate
    ]
    people = []
    for handle in sorted(status):
        info = annotators.get(handle, AnnotatorInfo(handle))
        people.append(
            {
                "handle": handle,
                "is_simulated": info.is_simulated,
                **status[handle].to_dict(),
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
            "level": CI_LEVEL,
            "method": "percentile",
        },
        warnings=warnings,
    )
