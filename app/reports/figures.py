"""The leaderboard's plots, drawn from a Leaderboard (the same numbers as its table).

Each figure is rendered once per computed leaderboard (Leaderboard.memo) and shared by the page,
its SVG routes and the report. A figure with nothing to show returns None and the caller says why.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.leaderboard.board import Leaderboard
from app.media import MediaStore
from app.models import Assignment, Image, Vote
from app.models.enums import StudyKind
from app.reports import format as fmt
from app.reports import plots

FIGURES = (
    "ratings",
    "win-rate",
    "precision-recall",
    "mos",
    "flags",
    "sweep",
    "trajectory",
    "average-win-rate",
    "vote-counts",
)
TITLES = {
    "trajectory": "Ratings as the votes came in (95% CI)",
    "average-win-rate": "Average win rate against all other generators",
    "vote-counts": "Votes per pair of generators",
    "sweep": "Quality–diversity sweep: metrics and human score against the swept setting",
    "ratings": "Ratings with 95% confidence intervals",
    "win-rate": "Pairwise win rate (row beats column)",
    "precision-recall": "Precision vs recall per generator",
    "mos": "Distribution of 1–5 scores per generator",
    "flags": "Share of images flagged with any failure mode (95% CI)",
}


def _nan(value) -> float:
    return np.nan if value is None else float(value)


def _ratings(lb: Leaderboard) -> str | None:
    rows = [r for r in lb.rows if r["human"].get("bt") is not None]
    if rows:
        return plots.ratings_with_ci(
            [r["generator"] for r in rows],
            [r["human"]["bt"] for r in rows],
            [r["human"]["bt_ci_low"] for r in rows],
            [r["human"]["bt_ci_high"] for r in rows],
        )
    rows = [r for r in lb.rows if r["human"].get("mos_ci_low") is not None]
    if rows:
        return plots.ratings_with_ci(
            [r["generator"] for r in rows],
            [r["human"]["mos"] for r in rows],
            [r["human"]["mos_ci_low"] for r in rows],
            [r["human"]["mos_ci_high"] for r in rows],
            xlabel="mean opinion score (1–5)",
        )
    return None


def _win_rate(lb: Leaderboard) -> str | None:
    matrix = lb.human.win_matrix
    if not matrix or len(matrix["generators"]) < 2:
        return None
    values = np.array([[_nan(v) for v in row] for row in matrix["observed"]])
    if not np.isfinite(values).any():
        return None
    return plots.win_rate_heatmap(matrix["generators"], values, counts=matrix.get("votes"))


def _precision_recall(lb: Leaderboard) -> str | None:
    rows = [
        r
        for r in lb.rows
        if r["metrics"]["precision"]["state"] == "ok" and r["metrics"]["recall"]["state"] == "ok"
    ]
    if not rows:
        return None
    return plots.precision_recall_scatter(
        [r["generator"] for r in rows],
        np.array([r["metrics"]["precision"]["value"] for r in rows]),
        np.array([r["metrics"]["recall"]["value"] for r in rows]),
    )


def _mos(lb: Leaderboard) -> str | None:
    scores = {name: s for name, s in lb.human.mos_scores.items() if s}
    if not scores:
        return None
    names = [r["generator"] for r in lb.rows if r["generator"] in scores]
    return plots.mos_distribution(names, [scores[n] for n in names])


def _flags(lb: Leaderboard) -> str | None:
    rows = [r for r in lb.rows if (r["human"].get("flag_rates") or {}).get("any", {}).get("n")]
    if not rows:
        return None
    rates = [r["human"]["flag_rates"]["any"] for r in rows]
    return plots.ratings_with_ci(
        [r["generator"] for r in rows],
        [x["rate"] for x in rates],
        [x["ci_low"] for x in rates],
        [x["ci_high"] for x in rates],
        xlabel="share of images with a failure flagged",
    )


SWEEP_PANELS = (
    ("fid", "FID ↓ (large-N CI)"),
    ("precision", "precision ↑"),
    ("recall", "recall ↑"),
    ("density", "density ↑"),
    ("coverage", "coverage ↑"),
    ("clip_score", "CLIP score ↑"),
    ("human", "human score ↑"),
)


def _sweep(lb: Leaderboard) -> str | None:
    families = [f for f in lb.families if any(p["setting"] is not None for p in f["points"])]
    if not families:
        return None
    return plots.quality_diversity_sweep(families, SWEEP_PANELS)


def _trajectory(lb: Leaderboard) -> str | None:
    path = lb.depth.get("trajectory") or {}
    if not path.get("available") or len(path["votes"]) < 2:
        return None
    names = list(path["generators"])
    cells = [path["generators"][n] for n in names]
    columns = [[c[key] for c in cells] for key in ("rating", "ci_low", "ci_high")]
    ratings, low, high = (np.array(col, dtype=object).T.tolist() for col in columns)
    anchor = (path.get("anchor") or {}).get("generator")
    return plots.rating_trajectory(path["votes"], names, ratings, low, high, anchor=anchor)


def _matrix_rows(lb: Leaderboard, key: str) -> tuple[list[str], np.ndarray] | None:
    matrix = lb.human.win_matrix
    if not matrix or len(matrix["generators"]) < 2:
        return None
    return matrix["generators"], np.array([[_nan(v) for v in row] for row in matrix[key]])


def _average_win_rate(lb: Leaderboard) -> str | None:
    observed = _matrix_rows(lb, "observed")
    if observed is None:
        return None
    names, values = observed
    _, predicted = _matrix_rows(lb, "predicted")
    return plots.average_win_rate(
        names, _row_means(values).tolist(), _row_means(predicted).tolist()
    )


def _row_means(values: np.ndarray) -> np.ndarray:
    """Each row's mean over the pairs that met (NaN cells left out); NaN for a generator that met
    nobody (np.nanmean's answer too, without its "Mean of empty slice" warning)."""
    met = ~np.isnan(values)
    counts = met.sum(axis=1)
    sums = np.where(met, values, 0.0).sum(axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _vote_counts(lb: Leaderboard) -> str | None:
    counts = _matrix_rows(lb, "votes")
    return None if counts is None else plots.vote_count_heatmap(*counts)


_DRAW = {
    "trajectory": _trajectory,
    "average-win-rate": _average_win_rate,
    "vote-counts": _vote_counts,
    "sweep": _sweep,
    "ratings": _ratings,
    "win-rate": _win_rate,
    "precision-recall": _precision_recall,
    "mos": _mos,
    "flags": _flags,
}


def figure(lb: Leaderboard, name: str) -> str | None:
    """The SVG of one figure of this leaderboard, or None when there is nothing to plot yet."""
    return lb.memo(f"figure:{name}", lambda: _DRAW[name](lb))


def why_no_votes(human) -> str:
    """Why a study's human figures are empty, in the reader's terms."""
    if not human.n_votes_total:
        return "no votes yet"
    left_out = []
    if human.n_attention_votes:
        left_out.append(f"{human.n_attention_votes} are attention checks")
    if human.n_excluded_votes:
        left_out.append(f"{human.n_excluded_votes} come from excluded annotators")
    if not human.n_votes_used:
        reasons = " and ".join(left_out) or "none can be used"
        return f"none of the {human.n_votes_total} votes can be used: {reasons}"
    return f"only {human.n_votes_used} usable votes so far (of {human.n_votes_total})"


def _metric_reason(lb: Leaderboard, metric: str) -> str:
    notes = sorted(
        {r["metrics"][metric].get("note") or "" for r in lb.rows} - {""},
    )
    return notes[0] if notes else "not computed yet"


def empty_reason(lb: Leaderboard, name: str) -> str:
    """Why figure `name` has nothing to plot (shown instead of an empty image)."""
    human = lb.human
    if name in ("ratings", "win-rate", "average-win-rate", "vote-counts", "mos", "flags"):
        if name in ("win-rate", "average-win-rate", "vote-counts") and len(lb.rows) < 2:
            return "a comparison between generators needs at least two generators"
        return why_no_votes(human)
    if name == "trajectory":
        path = lb.depth.get("trajectory") or {}
        if not path.get("available"):
            return path.get("reason") or why_no_votes(human)
        return "a trajectory needs votes at two checkpoints at least"
    if name == "precision-recall":
        return "precision and recall are missing for every generator: " + _metric_reason(
            lb, "recall" if lb.rows else "precision"
        )
    if name == "sweep":
        return "no generator family declares a swept setting"
    return "nothing to plot"


def _listing(items: list[str], limit: int = 8) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def describe(lb: Leaderboard, name: str) -> str:
    """Alt text saying what figure `name` shows (call only when figure() is not None)."""
    rows = lb.rows
    if name == "ratings":
        bt = [r for r in rows if r["human"].get("bt") is not None]
        if bt:
            bt.sort(key=lambda r: -r["human"]["bt"])
            items = [
                f"{r['generator']} {fmt.number(r['human']['bt'], 'bt')} "
                f"{fmt.bt_interval(r['human'])}"
                for r in bt
            ]
            return (
                f"Bradley–Terry ratings with 95% confidence intervals for {len(bt)} generators, "
                f"best first: {_listing(items)}."
            )
        mos = [r for r in rows if r["human"].get("mos") is not None]
        mos.sort(key=lambda r: -r["human"]["mos"])
        items = [
            f"{r['generator']} {fmt.number(r['human']['mos'], 'mos')} "
            f"{fmt.interval(r['human'].get('mos_ci_low'), r['human'].get('mos_ci_high'), 'mos')}"
            for r in mos
        ]
        return (
            f"Mean opinion scores (1–5) with 95% confidence intervals for {len(mos)} generators, "
            f"best first: {_listing(items)}."
        )
    if name == "win-rate":
        matrix = lb.human.win_matrix
        names, observed, votes = matrix["generators"], matrix["observed"], matrix.get("votes")
        cells = [
            (observed[i][j], i, j)
            for i in range(len(names))
            for j in range(len(names))
            if i != j and observed[i][j] is not None
        ]
        best, i, j = max(cells)
        n = f" over {votes[i][j]} votes" if votes else ""
        return (
            f"Heatmap of observed win rates among {len(names)} generators (row beats column), "
            f"each cell labelled with its win rate and vote count; {len(cells)} of "
            f"{len(names) * (len(names) - 1)} ordered pairs have met. Highest: {names[i]} beats "
            f"{names[j]} {fmt.number(best, 'win_rate')} of the time{n}."
        )
    if name == "average-win-rate":
        names, observed = _matrix_rows(lb, "observed")
        means = _row_means(observed)
        order = sorted(
            (i for i in range(len(names)) if np.isfinite(means[i])), key=lambda i: -means[i]
        )
        items = [f"{names[i]} {fmt.number(float(means[i]), 'win_rate')}" for i in order]
        return (
            f"Bar chart of each generator's average win rate against all others, observed and as "
            f"the Bradley–Terry fit predicts, for {len(names)} generators, best first: "
            f"{_listing(items)}."
        )
    if name == "vote-counts":
        names, counts = _matrix_rows(lb, "votes")
        cells = [
            (counts[i][j], i, j)
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if np.isfinite(counts[i][j])
        ]
        met = [c for c in cells if c[0] > 0]
        if not met:
            return f"Matrix of votes per pair among {len(names)} generators: no pair has met yet."
        most, i, j = max(met)
        least, k, m = min(met)
        return (
            f"Matrix of votes per pair of generators among {len(names)} generators; "
            f"{len(met)} of {len(cells)} pairs have met. Most: {names[i]} and {names[j]} "
            f"({int(most)} votes); fewest: {names[k]} and {names[m]} ({int(least)} votes)."
        )
    if name == "trajectory":
        path = lb.depth["trajectory"]
        last = {
            g: cell["rating"][-1]
            for g, cell in path["generators"].items()
            if cell["rating"] and cell["rating"][-1] is not None
        }
        items = [
            f"{g} {fmt.number(value, 'bt')}"
            for g, value in sorted(last.items(), key=lambda kv: -kv[1])
        ]
        return (
            f"Bradley–Terry ratings of {len(path['generators'])} generators with 95% bands as "
            f"the votes came in, at {len(path['votes'])} checkpoints up to {path['votes'][-1]} "
            f"votes; at the last: {_listing(items)}."
        )
    if name == "precision-recall":
        ok = [
            r
            for r in rows
            if r["metrics"]["precision"]["state"] == "ok"
            and r["metrics"]["recall"]["state"] == "ok"
        ]
        items = [
            f"{r['generator']} precision {fmt.number(r['metrics']['precision']['value'], 'precision')}"
            f", recall {fmt.number(r['metrics']['recall']['value'], 'recall')}"
            for r in ok
        ]
        return f"Scatter of precision against recall for {len(ok)} generators: {_listing(items)}."
    if name == "mos":
        scores = {k: v for k, v in lb.human.mos_scores.items() if v}
        items = [
            f"{g} {len(v)} ratings, mean {fmt.number(float(np.mean(v)), 'mos')}"
            for g, v in scores.items()
        ]
        return f"Distribution of the 1–5 scores for {len(scores)} generators: {_listing(items)}."
    if name == "flags":
        flagged = [r for r in rows if (r["human"].get("flag_rates") or {}).get("any", {}).get("n")]
        items = []
        for r in flagged:
            any_flag = r["human"]["flag_rates"]["any"]
            items.append(
                f"{r['generator']} {fmt.number(any_flag['rate'], 'flag_rate')} "
                f"{fmt.interval(any_flag['ci_low'], any_flag['ci_high'], 'flag_rate')}"
            )
        return (
            f"Share of images flagged with any failure mode, with 95% confidence intervals, for "
            f"{len(flagged)} generators: {_listing(items)}."
        )
    if name == "sweep":
        names = [f.get("name") or f.get("family") or "family" for f in lb.families]
        return (
            f"Quality–diversity sweep for {len(names)} generator families ({', '.join(map(str, names))}): "
            "FID, precision, recall, density, coverage, CLIP score and the human score against "
            "the swept setting."
        )
    return TITLES.get(name, name)


def available_figures(lb: Leaderboard) -> list[str]:
    """Figures worth showing for this study's kind (empty ones are reported, not hidden)."""
    kind = lb.study["kind"]
    names = ["ratings"]
    if kind == StudyKind.pairwise:
        names += ["win-rate", "average-win-rate", "vote-counts", "trajectory"]
    if kind == StudyKind.rating:
        names.append("mos")
    if kind == StudyKind.flag:
        names = ["flags"]
    names.append("precision-recall")
    if lb.families:
        names.append("sweep")
    return names


def _thumbnails(store: MediaStore, shas: Sequence[str]) -> list[PILImage.Image]:
    images = []
    for sha in shas:
        try:
            data = store.read_served(sha)
        except FileNotFoundError:
            continue
        image = PILImage.open(io.BytesIO(data))
        image.thumbnail((192, 192))
        images.append(image.convert("RGB"))
    return images


def sample_image_ids(
    session: Session,
    study_id: int,
    generator_id: int,
    count: int = 12,
    exclude: Collection[int] = (),
) -> list[int]:
    """The first `count` of this generator's images in this study's own pool, minus `exclude`."""
    from app.models import Study
    from app.services.studies.study import study_images

    study = session.get(Study, study_id)
    ids = [i for i, gen, _p in study_images(session, study) if gen == generator_id]
    return [i for i in ids if i not in set(exclude)][:count]


def sample_grid(
    session: Session,
    store: MediaStore,
    study_id: int,
    generator_id: int,
    name: str,
    count: int = 12,
    exclude: Collection[int] = (),
) -> str | None:
    """A grid of one generator's images in this study (the first `count`), to spot mode
    collapse; `exclude`: images that must not be shown (those an open study serves)."""
    ids = sample_image_ids(session, study_id, generator_id, count, exclude)
    if not ids:
        return None
    shas = dict(session.execute(select(Image.id, Image.sha256).where(Image.id.in_(ids))).all())
    images = _thumbnails(store, [shas[i] for i in ids])
    if not images:
        return None
    return plots.sample_grid(images, columns=6, title=f"{name}: first {len(images)} images")


def flagged_images(session: Session, study_id: int, limit: int = 12) -> list[tuple[int, int]]:
    """(image id, votes that flagged something) of the most often flagged images of a study."""
    rows = session.execute(
        select(Assignment.image_id, Vote.flags)
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(
            Vote.study_id == study_id,
            Assignment.check_kind.is_(None),
            Assignment.image_id.is_not(None),
        )
    )
    counts: dict[int, int] = {}
    for image_id, flags in rows:
        if flags:
            counts[image_id] = counts.get(image_id, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:limit]


def flagged_grid(session: Session, store: MediaStore, study_id: int, limit: int = 12) -> str | None:
    """A grid of the study's most often flagged images (failure analysis)."""
    ranked = flagged_images(session, study_id, limit)
    if not ranked:
        return None
    shas = dict(
        session.execute(
            select(Image.id, Image.sha256).where(Image.id.in_([i for i, _ in ranked]))
        ).all()
    )
    images = _thumbnails(store, [shas[i] for i, _ in ranked if i in shas])
    if not images:
        return None
    return plots.sample_grid(images, columns=6, title="most often flagged images")


def count_images(session: Session, generator_id: int) -> int:
    return session.scalar(select(func.count()).where(Image.generator_id == generator_id)) or 0
