"""Server-side plots as self-contained SVG (matplotlib, Agg backend, bundled fonts, no CDN).

Each function takes plain arrays and returns SVG text, deterministic for the same input
(fixed hash salt, no date metadata) so pages and reports can embed it and tests can compare it.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np


@functools.cache
def _pyplot():
    """matplotlib.pyplot on the Agg backend, configured once; imported on the first figure, not
    with the app (it costs a second of start-up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "gallery-arena",
            "svg.fonttype": "none",  # text stays text: searchable, small, readable by screen readers
            "font.size": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    return out.getvalue()


def ratings_with_ci(
    names: Sequence[str],
    ratings,
    ci_low,
    ci_high,
    *,
    xlabel: str = "Bradley–Terry rating (Elo scale)",
) -> str:
    """Horizontal dot-and-whisker plot, best at the top.

    A missing bound (None or NaN: an unbounded interval, e.g. separated Bradley-Terry data) is
    drawn as an arrow to the edge of the plot. Whiskers never go negative: a bound that rounding
    left a hair inside its estimate (a rate of exactly 0 or 1) is drawn at the estimate."""
    ratings, ci_low, ci_high = (
        np.array([np.nan if v is None else v for v in a], dtype=float)
        for a in (ratings, ci_low, ci_high)
    )
    order = np.argsort(ratings)
    fig, ax = _pyplot().subplots(figsize=(8, 0.45 * len(names) + 1.4))
    y = np.arange(len(names))
    finite = np.concatenate([v[np.isfinite(v)] for v in (ratings, ci_low, ci_high)])
    span = float(np.ptp(finite)) if finite.size > 1 else 1.0
    edge_low = float(finite.min()) - 0.15 * (span or 1.0)
    edge_high = float(finite.max()) + 0.15 * (span or 1.0)
    open_low, open_high = ~np.isfinite(ci_low), ~np.isfinite(ci_high)
    low = np.where(open_low, edge_low, ci_low)
    high = np.where(open_high, edge_high, ci_high)
    ax.errorbar(
        ratings[order],
        y,
        xerr=[
            np.maximum(ratings[order] - low[order], 0.0),
            np.maximum(high[order] - ratings[order], 0.0),
        ],
        fmt="o",
        color="#1f4e79",
        ecolor="#7fa7d1",
        capsize=3,
    )
    rank = np.empty(len(names), dtype=int)
    rank[order] = y
    if open_low.any():
        ax.plot(low[open_low], rank[open_low], "<", color="#7fa7d1")
    if open_high.any():
        ax.plot(high[open_high], rank[open_high], ">", color="#7fa7d1")
    ax.set_yticks(y, [names[i] for i in order])
    unbounded = " (arrow: no finite bound)" if (open_low | open_high).any() else ""
    ax.set_xlabel(xlabel + " with 95% CI" + unbounded)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def win_rate_heatmap(
    names: Sequence[str],
    matrix,
    *,
    title: str = "Row beats column",
    annotate: bool | None = None,
    counts=None,
) -> str:
    """Observed win rate of the row generator against the column generator (NaN: never met);
    with `counts` (votes per pair) each cell also says how many votes its rate rests on.

    Cell labels are drawn up to 16 generators by default: beyond that they are unreadable, and
    2,500 text elements make the SVG ten times larger and slower to render.
    """
    matrix = np.asarray(matrix, dtype=float)
    if annotate is None:
        annotate = len(names) <= 16
    size = 0.9 * len(names) if len(names) <= 16 else 0.3 * len(names)
    fig, ax = _pyplot().subplots(figsize=(size + 3, size + 2.5))
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45 if annotate else 90, ha="right")
    ax.set_yticks(range(len(names)), names)
    if not annotate:
        ax.tick_params(labelsize=7)
    for (i, j), value in np.ndenumerate(matrix):
        if annotate and np.isfinite(value):
            label = f"{value:.2f}"
            if counts is not None:
                label += f"\nn={int(counts[i][j])}"
            ax.text(
                j,
                i,
                label,
                ha="center",
                va="center",
                fontsize=9,
                color="white" if abs(value - 0.5) > 0.3 else "black",
            )
    ax.set_title(title + (" (n = votes between the two)" if counts is not None else ""))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _svg(fig)


def precision_recall_scatter(names: Sequence[str], precision, recall) -> str:
    """Fidelity (precision) against coverage of the real distribution (recall), per generator."""
    fig, ax = _pyplot().subplots(figsize=(7, 6))
    ax.scatter(recall, precision, color="#1f4e79")
    for name, r, p in zip(names, recall, precision, strict=True):
        if np.isfinite(r) and np.isfinite(p):
            ax.annotate(name, (r, p), textcoords="offset points", xytext=(4, 4), fontsize=10)
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall (diversity)")
    ax.set_ylabel("precision (fidelity)")
    ax.grid(alpha=0.3)
    return _svg(fig)


def mos_distribution(names: Sequence[str], scores: Sequence[Sequence[int]]) -> str:
    """Stacked share of each 1–5 score per generator."""
    counts = np.array([[np.sum(np.asarray(s) == k) for k in range(1, 6)] for s in scores], float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = _pyplot().subplots(figsize=(8, 0.45 * len(names) + 1.4))
    left = np.zeros(len(names))
    colours = ["#b2182b", "#ef8a62", "#f7f7f7", "#67a9cf", "#2166ac"]
    for k in range(5):
        ax.barh(
            names, shares[:, k], left=left, color=colours[k], edgecolor="grey", label=str(k + 1)
        )
        left += shares[:, k]
    ax.set_xlabel("share of ratings")
    ax.legend(
        title="score", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False
    )
    return _svg(fig)


def sample_grid(images: Sequence, *, columns: int = 6, title: str = "") -> str:
    """A grid of thumbnails (PIL images), for spotting mode collapse at a glance."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = _pyplot().subplots(
        rows, columns, figsize=(1.2 * columns, 1.2 * rows + 0.3), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image in zip(axes.ravel(), images, strict=False):
        ax.imshow(np.asarray(image.convert("RGB").resize((96, 96))))
    if title:
        fig.suptitle(title)
    return _svg(fig)


def quality_diversity_sweep(families: Sequence[dict], panels: Sequence[tuple[str, str]]) -> str:
    """One row per generator family, one panel per metric: the value at each setting of the
    swept sampling setting, with 95% interval bars; a panel without numbers says why."""
    fig, axes = _pyplot().subplots(
        len(families),
        len(panels),
        figsize=(2.1 * len(panels), 2.2 * len(families) + 0.4),
        squeeze=False,
    )
    for row, family in zip(axes, families, strict=True):
        points = [p for p in family["points"] if p["setting"] is not None]
        x = np.array([float(p["setting"]) for p in points])
        for ax, (key, label) in zip(row, panels, strict=True):
            cells = [p["human"] if key == "human" else p["metrics"][key] for p in points]
            value = np.array([_nan(c["value"]) for c in cells])
            low = np.array([_nan(c["ci_low"]) for c in cells])
            high = np.array([_nan(c["ci_high"]) for c in cells])
            if key == "human":
                labels = {c["label"] for c in cells if c.get("label")}
                label = next(iter(labels)) if len(labels) == 1 else label
            ax.set_title(label, fontsize=8)
            ax.set_xlabel(family["setting_label"], fontsize=7)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if not np.isfinite(value).any():
                notes = sorted({c["note"] for c in cells if c.get("note")})
                ax.text(
                    0.5,
                    0.5,
                    "no numbers:\n" + "\n".join(n[:40] for n in notes[:2]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    wrap=True,
                    transform=ax.transAxes,
                )
                continue
            has_ci = np.isfinite(low) & np.isfinite(high)
            ax.plot(x, value, "-o", color="#1f4e79", markersize=4)
            if has_ci.any():
                ax.errorbar(
                    x[has_ci],
                    value[has_ci],
                    yerr=[
                        np.maximum(value[has_ci] - low[has_ci], 0),
                        np.maximum(high[has_ci] - value[has_ci], 0),
                    ],
                    fmt="none",
                    ecolor="#7fa7d1",
                    capsize=3,
                )
        row[0].set_ylabel(family["family"], fontsize=9)
    fig.suptitle("Quality–diversity sweep (95% intervals)", fontsize=9)
    fig.tight_layout()
    return _svg(fig)


def _nan(value) -> float:
    return np.nan if value is None else float(value)


def rating_trajectory(
    votes: Sequence[int],
    names: Sequence[str],
    ratings,
    ci_low,
    ci_high,
    *,
    anchor: str | None = None,
) -> str:
    """Ratings after the first n votes (x) per generator, a line with a shaded 95% band."""
    votes = np.asarray(votes, dtype=float)
    ratings, ci_low, ci_high = (
        np.array([[np.nan if v is None else v for v in row] for row in a], dtype=float)
        for a in (ratings, ci_low, ci_high)
    )
    fig, ax = _pyplot().subplots(figsize=(6.5, 3.8))
    colours = _pyplot().get_cmap("tab10")
    order = np.argsort(-ratings[-1])  # legend in the final order, best first
    for n, g in enumerate(order):
        colour = colours(n % 10)
        ax.plot(votes, ratings[:, g], "-o", color=colour, markersize=3, label=names[g])
        ax.fill_between(votes, ci_low[:, g], ci_high[:, g], color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("votes cast")
    ax.set_ylabel("Bradley–Terry rating, 95% CI" + (f" ({anchor} held at 1000)" if anchor else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _svg(fig)


def average_win_rate(names: Sequence[str], observed, predicted) -> str:
    """FastChat's "average win rate against all other models": the mean over opponents of the
    observed decisive win rate (bars) and of the Bradley-Terry predicted one (dots)."""
    observed = np.array([np.nan if v is None else v for v in observed], dtype=float)
    predicted = np.array([np.nan if v is None else v for v in predicted], dtype=float)
    order = np.argsort(np.nan_to_num(observed, nan=-1.0))
    fig, ax = _pyplot().subplots(figsize=(6, 0.35 * len(names) + 1))
    y = np.arange(len(names))
    ax.barh(y, observed[order], color="#7fa7d1", label="observed (ties left out)")
    ax.plot(predicted[order], y, "o", color="#1f4e79", label="Bradley–Terry predicted")
    for k, value in zip(y, observed[order], strict=True):
        if np.isfinite(value):
            ax.text(value + 0.01, k, f"{value:.2f}", va="center", fontsize=7)
    ax.set_yticks(y, [names[i] for i in order])
    ax.set_xlim(0, 1.08)
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("average win rate against all other generators (uniform over opponents)")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return _svg(fig)


def vote_count_heatmap(names: Sequence[str], counts) -> str:
    """Votes per pair of generators (symmetric; ties included), FastChat's battle-count plot."""
    counts = np.asarray(counts, dtype=float)
    size = 0.5 * len(names) if len(names) <= 16 else 0.22 * len(names)
    fig, ax = _pyplot().subplots(figsize=(size + 2.5, size + 2))
    image = ax.imshow(np.ma.masked_equal(counts, 0), cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    if len(names) <= 16:
        top = counts.max() if counts.size else 0
        for (i, j), value in np.ndenumerate(counts):
            if i != j:
                colour = "white" if value > 0.6 * top else "black"
                ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_title("Votes per pair of generators")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _svg(fig)
