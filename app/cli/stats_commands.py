"""`arena ratings`, `arena agreement`, `arena mos`: plain files in, JSON or a table out.

Thin wrappers: parsing lives in app.stats.io, numbers in app.stats. Bad input exits with code 2
and a message that names the offending line.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

err = Console(stderr=True)


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


class Level(StrEnum):
    nominal = "nominal"
    ordinal = "ordinal"
    interval = "interval"


def _fail(message: str) -> None:
    # soft_wrap: keep the message on one line, whatever the terminal width.
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _parse_anchor(text: str | None) -> tuple[str, float] | None:
    if text is None:
        return None
    name, sep, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name or not math.isfinite(number):
        _fail(f"--anchor must look like NAME=VALUE (e.g. gen00=1000), got {text!r}")
    return name, number


def _parse_scale(text: str) -> tuple[float, float] | None:
    if text.strip().lower() == "none":
        return None
    low, sep, high = text.partition(",")
    try:
        bounds = (float(low), float(high))
    except ValueError:
        bounds = (math.nan, math.nan)
    if not sep or not all(math.isfinite(b) for b in bounds) or bounds[0] >= bounds[1]:
        _fail(f"--scale must look like LOW,HIGH (e.g. 1,5) or none, got {text!r}")
    return bounds


def _emit(payload: dict, fmt: OutputFormat, table: Table, notes: list[str] = ()) -> None:
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        return
    out = Console(width=200)
    out.print(table)
    for note in notes:
        out.print(note, highlight=False)


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:.1f}"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratings_report(
    path: Path,
    rounds: int,
    seed: int,
    anchor: tuple[str, float] | None,
    aspect: str | None = None,
) -> dict:
    """The JSON document of `arena ratings` (also usable by the server on an uploaded log)."""
    from app.stats import (
        bootstrap_bradley_terry,
        bradley_terry,
        online_elo,
        position_bias,
        win_tables,
    )
    from app.stats.io import read_battles

    battles = read_battles(path, aspect)
    elo = online_elo(battles)
    tables = win_tables(battles)
    position = position_bias(battles)
    separation: dict[str, str] = {}
    if rounds > 0:
        boot = bootstrap_bradley_terry(battles, rounds=rounds, seed=seed, anchor=anchor)
        # An unbounded side (separated data) is null, and named in "unbounded".
        ratings, low, high, rank = (
            boot.ratings,
            [v if math.isfinite(v) else None for v in boot.ci_low.tolist()],
            [v if math.isfinite(v) else None for v in boot.ci_high.tolist()],
            boot.rank.tolist(),
        )
        warnings, components = boot.warnings, boot.to_dict()["components"]
        separation = boot.separation_notes()
    else:
        point = bradley_terry(battles, anchor=anchor)
        ratings, low, high, rank = (
            point.ratings,
            [None] * len(point.ratings),
            [None] * len(point.ratings),
            [None] * len(point.ratings),
        )
        warnings, components = point.warnings, [list(c) for c in point.components]
    votes = tables.votes.sum(axis=1)
    win_rate = tables.decisive_win_rate
    order = sorted(range(battles.n_generators), key=lambda k: -float(ratings[k]))
    models = {
        battles.generators[k]: {
            "bt": float(ratings[k]),
            "ci_low": low[k],
            "ci_high": high[k],
            "rank": rank[k],
            "unbounded": (
                None
                if rounds == 0 or (low[k] is not None and high[k] is not None)
                else "both"
                if low[k] is None and high[k] is None
                else "low"
                if low[k] is None
                else "high"
            ),
            "separation": separation.get(battles.generators[k]),
            "elo": elo.ratings[k],
            "votes": int(votes[k]),
            "win_rate": None if math.isnan(win_rate[k]) else float(win_rate[k]),
        }
        for k in order
    }
    return {
        "n_votes": len(battles),
        "models": models,
        "position": {
            "left_share": position.left_share,
            "ci_low": position.ci_low,
            "ci_high": position.ci_high,
            "flagged": position.flagged,
        },
        "bootstrap": {"rounds": rounds, "seed": seed},
        "anchor": None if anchor is None else {"generator": anchor[0], "value": anchor[1]},
        "components": components,
        "warnings": list(warnings),
    }


def agreement_report(path: Path, level: str, aspect: str | None = None) -> dict:
    """The JSON document of `arena agreement` (the leaderboard's agreement panel, same function)."""
    from app.stats import StatsError, study_agreement
    from app.stats.io import read_ratings

    table = read_ratings(path, aspect)
    if level == "interval" and not table.numeric:
        raise StatsError("--level interval needs numeric labels (e.g. 1-5 scores)")
    items, raters, labels = [], [], []
    for item, row in zip(table.items, table.labels):
        for rater, label in zip(table.raters, row):
            if label is not None:
                items.append(item)
                raters.append(rater)
                labels.append(label)
    summary = study_agreement(items, raters, labels, level=level)
    if summary.fleiss_kappa is None and summary.krippendorff_alpha is None:
        raise StatsError("; ".join(f"{k}: {v}" for k, v in summary.notes.items()))
    doc = summary.to_dict()
    return {
        **doc,
        "n_items": len(table.items),
        "n_items_used": summary.n_items,
        "n_raters": len(table.raters),
        "layout": table.layout,
    }


def mos_report(
    path: Path,
    normalise: bool,
    scale: tuple[float, float] | None = (1.0, 5.0),
    aspect: str | None = None,
) -> dict:
    """The JSON document of `arena mos`; intervals of raw scores are clipped to `scale`."""
    from app.stats import StatsError, krippendorff_alpha, mean_opinion_scores
    from app.stats.io import read_mos

    data = read_mos(path, aspect)
    result = mean_opinion_scores(
        data.models, data.items, data.raters, data.scores, normalise=normalise, bounds=scale
    )
    try:
        alpha: float | None = krippendorff_alpha(data.matrix, level="interval")
        note = None
    except StatsError as exc:
        alpha, note = None, str(exc)
    payload = result.to_dict()
    return {
        "models": {
            m: {
                k: s[k]
                for k in (
                    "mean",
                    "sd",
                    "n",
                    "ci_low",
                    "ci_high",
                    "n_items",
                    "ci_items_low",
                    "ci_items_high",
                )
            }
            for m, s in sorted(payload["models"].items(), key=lambda kv: -kv[1]["mean"])
        },
        "krippendorff_alpha_interval": alpha,
        "raters": payload["raters"],
        "normalised": normalise,
        "normalisation": payload["normalisation"],
        "scale": None if scale is None else list(scale),
        "notes": {} if note is None else {"krippendorff_alpha_interval": note},
    }


def register(app: typer.Typer) -> None:
    @app.command()
    def ratings(
        battles: Annotated[
            Path,
            typer.Argument(
                metavar="BATTLES.csv", help="model_a, model_b, winner; rows in time order"
            ),
        ],
        bootstrap: Annotated[
            int, typer.Option("--bootstrap", min=0, help="bootstrap rounds (0: no CIs)")
        ] = 1000,
        seed: Annotated[
            int, typer.Option("--seed", help="seed of numpy.random.default_rng for the bootstrap")
        ] = 0,
        anchor: Annotated[
            str | None,
            typer.Option("--anchor", help="NAME=VALUE: put NAME at VALUE instead of mean 1000"),
        ] = None,
        aspect: Annotated[
            str | None,
            typer.Option(
                "--aspect", help="a votes export of a study with aspects: this one's rows"
            ),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", help="json or table")
        ] = OutputFormat.json,
    ) -> None:
        """Bradley-Terry ratings with bootstrap 95% CIs, online Elo, win rate and position bias.

        win_rate: share of a model's decisive votes (ties excluded) that it won.

        rank: 1 + the number of models whose CI lies entirely above this one's.
        """
        parsed = _parse_anchor(anchor)
        from app.stats import StatsError

        try:
            report = ratings_report(battles, bootstrap, seed, parsed, aspect)
        except StatsError as exc:
            _fail(f"{battles}: {exc}")
        table = Table(
            title=f"Bradley-Terry ratings ({report['n_votes']} votes, {bootstrap} bootstrap rounds, seed {seed})"
        )
        for column in ("rank", "model", "BT", "95% CI", "Elo", "votes", "win rate"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for name, m in report["models"].items():
            ci = (
                "-"
                if m["ci_low"] is None and m["ci_high"] is None and not m["unbounded"]
                else f"{_bound(m['ci_low'], '-inf')} to {_bound(m['ci_high'], '+inf')}"
            )
            table.add_row(
                str(m["rank"] or "-"),
                name,
                _fmt(m["bt"]),
                ci,
                _fmt(m["elo"]),
                str(m["votes"]),
                _fmt(m["win_rate"], 3),
            )
        pos = report["position"]
        notes = []
        if pos["left_share"] is not None:
            flag = "  [biased]" if pos["flagged"] else ""
            notes.append(
                f"left share of decisive votes {pos['left_share']:.3f} (95% CI {pos['ci_low']:.3f} to {pos['ci_high']:.3f}){flag}"
            )
        notes += [f"warning: {w}" for w in report["warnings"]]
        notes += [
            f"separation: {name}: {m['separation']}"
            for name, m in report["models"].items()
            if m["separation"]
        ]
        _emit(report, fmt, table, notes)

    @app.command()
    def agreement(
        ratings_file: Annotated[
            Path,
            typer.Argument(
                metavar="RATINGS.csv",
                help="wide (item_id, rater1..N) or long (item_id, rater, label)",
            ),
        ],
        level: Annotated[
            Level, typer.Option("--level", help="Krippendorff's alpha level of measurement")
        ] = Level.nominal,
        aspect: Annotated[
            str | None,
            typer.Option(
                "--aspect", help="a votes export of a study with aspects: this one's rows"
            ),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", help="json or table")
        ] = OutputFormat.json,
    ) -> None:
        """Fleiss' kappa and Krippendorff's alpha (missing ratings allowed) of a ratings file."""
        from app.stats import StatsError

        try:
            report = agreement_report(ratings_file, level.value, aspect)
        except StatsError as exc:
            _fail(f"{ratings_file}: {exc}")
        table = Table(title=f"Agreement ({report['n_items']} items, {report['n_raters']} raters)")
        table.add_column("statistic")
        table.add_column("value", justify="right")
        table.add_row("Fleiss' kappa", _fmt(report["fleiss_kappa"], 4))
        table.add_row(
            f"Krippendorff's alpha ({report['level']})", _fmt(report["krippendorff_alpha"], 4)
        )
        table.add_row("raw agreement", _fmt(report["percent_agreement"], 4))
        notes = [
            f"{report['n_items_used']} items with two or more ratings, "
            f"{report['n_ratings']} ratings by {report['n_raters']} raters"
        ]
        _emit(report, fmt, table, notes + [f"{k}: {v}" for k, v in report["notes"].items()])

    @app.command()
    def mos(
        ratings_file: Annotated[
            Path,
            typer.Argument(
                metavar="RATINGS.csv", help="item_id, model, rater1..raterN with numeric scores"
            ),
        ],
        normalise: Annotated[
            bool, typer.Option("--normalise", help="per-rater z-scores, shown on the raw scale")
        ] = False,
        scale: Annotated[
            str,
            typer.Option(
                "--scale", help="LOW,HIGH of the rating scale: intervals are clipped to it; none"
            ),
        ] = "1,5",
        aspect: Annotated[
            str | None,
            typer.Option(
                "--aspect", help="a votes export of a study with aspects: this one's rows"
            ),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", help="json or table")
        ] = OutputFormat.json,
    ) -> None:
        """Mean opinion score per model with t 95% CIs, and Krippendorff's alpha (interval).

        Reads the wide layout or a Gallery Arena votes export (item_id, model, rater, rating)."""
        bounds = _parse_scale(scale)
        from app.stats import StatsError

        try:
            report = mos_report(ratings_file, normalise, bounds, aspect)
        except StatsError as exc:
            _fail(f"{ratings_file}: {exc}")
        table = Table(title="Mean opinion scores" + (" (rater-normalised)" if normalise else ""))
        for column in ("model", "MOS", "95% CI", "95% CI (items)", "sd", "n"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for name, m in report["models"].items():
            ci = "-" if m["ci_low"] is None else f"{m['ci_low']:.3f} to {m['ci_high']:.3f}"
            ci_items = (
                "-"
                if m["ci_items_low"] is None
                else f"{m['ci_items_low']:.3f} to {m['ci_items_high']:.3f}"
            )
            table.add_row(name, _fmt(m["mean"], 3), ci, ci_items, _fmt(m["sd"], 3), str(m["n"]))
        _emit(
            report,
            fmt,
            table,
            [f"Krippendorff's alpha (interval): {_fmt(report['krippendorff_alpha_interval'], 4)}"],
        )
