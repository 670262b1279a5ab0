"""The evaluation report of a study (HTML or Markdown), self-contained and readable offline.

Four pillars, as in production evaluation reports: sample quality (FID, KID, IS, PRDC with n and
preprocessing), prompt adherence (CLIP score, CMMD), human preference (ratings with CIs,
agreement, position bias, which metric agrees with humans) and failure analysis (flag rates and
the most often flagged images). Then the settings, sample sizes, seeds and software versions that
produced the numbers. Every number comes from the same Leaderboard the page shows; plots are SVG.
The HTML report inlines them (one file, opens offline); the Markdown report writes them as files
beside it unless asked to embed them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.leaderboard.board import Leaderboard
from app.media import MediaStore
from app.metrics.catalog import LOWER_IS_BETTER, METRIC_LABELS, pillar
from app.models.enums import StudyKind
from app.reports import figures
from app.reports import format as fmt

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "reports"
QUALITY_METRICS = pillar("quality")
ADHERENCE_METRICS = pillar("adherence")
FORMATS = ("html", "md")


@dataclass
class Figure:
    key: str
    title: str
    svg: str | None
    missing: str = ""
    href: str | None = None  # relative path of the figure's file, when written beside the report

    @property
    def data_uri(self) -> str:
        encoded = base64.b64encode((self.svg or "").encode()).decode()
        return f"data:image/svg+xml;base64,{encoded}"

    @property
    def src(self) -> str:
        """Where the report links the figure: its file beside the report, or inline data."""
        return self.href or self.data_uri

    @property
    def inline(self) -> Markup:
        # The SVG comes from matplotlib on our own numbers; the XML prolog is dropped for inlining.
        svg = self.svg or ""
        start = svg.find("<svg")
        return Markup(svg[start:] if start >= 0 else svg)


@dataclass
class ReportData:
    lb: Leaderboard
    figures: dict[str, Figure]
    samples: list[Figure] = field(default_factory=list)
    flagged: Figure | None = None


def _figure(lb: Leaderboard, key: str, missing: str) -> Figure:
    return Figure(key, figures.TITLES[key], figures.figure(lb, key), missing)


def collect(
    session: Session,
    store: MediaStore,
    lb: Leaderboard,
    samples_per_generator: int = 12,
) -> ReportData:
    """The figures and image grids of a report (plots come from the leaderboard's memo)."""
    data = ReportData(
        lb,
        {
            "ratings": _figure(lb, "ratings", "no human judgements yet"),
            "win-rate": _figure(lb, "win-rate", "fewer than two generators have pairwise votes"),
            "mos": _figure(lb, "mos", "no 1–5 ratings yet"),
            "flags": _figure(lb, "flags", "no failure flags yet"),
            "precision-recall": _figure(
                lb, "precision-recall", "precision and recall are not computed yet"
            ),
            "sweep": _figure(lb, "sweep", "no family member has its swept setting registered"),
            "trajectory": _figure(lb, "trajectory", "fewer than two checkpoints of votes"),
            "average-win-rate": _figure(
                lb, "average-win-rate", "fewer than two generators have pairwise votes"
            ),
            "vote-counts": _figure(
                lb, "vote-counts", "fewer than two generators have pairwise votes"
            ),
        },
    )
    for row in lb.rows:
        svg = figures.sample_grid(
            session,
            store,
            lb.study["id"],
            row["generator_id"],
            row["generator"],
            samples_per_generator,
        )
        data.samples.append(
            Figure(
                f"samples-{row['generator_id']}",
                f"Samples of {row['generator']}",
                svg,
                "no stored images",
            )
        )
    if lb.study["kind"] == StudyKind.flag:
        data.flagged = Figure(
            "flagged",
            "Most often flagged images",
            figures.flagged_grid(session, store, lb.study["id"]),
            "no image has been flagged",
        )
    return data


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt.number
    env.filters["ci"] = lambda pair, quantity="": fmt.interval(pair[0], pair[1], quantity)
    env.globals.update(
        fmt=fmt,
        METRIC_LABELS=METRIC_LABELS,
        LOWER_IS_BETTER=LOWER_IS_BETTER,
        QUALITY_METRICS=QUALITY_METRICS,
        ADHERENCE_METRICS=ADHERENCE_METRICS,
        md=_md_cell,
    )
    return env


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(data: ReportData, report_format: str = "html") -> str:
    if report_format not in FORMATS:
        raise ValueError(f"report format must be one of {FORMATS}")
    template = _environment().get_template(f"report.{report_format}")
    lb = data.lb
    notes, marks = fmt.table_notes(lb.rows, unavailable=False)
    return template.render(
        no_votes_reason=figures.why_no_votes(lb.human),
        notes=notes,
        marks=marks,
        lb=lb,
        d=lb.to_dict(),
        data=data,
        human=lb.human,
        agreement=lb.human.agreement,
        flag_options=lb.study["flag_options"] if lb.study["kind"] == StudyKind.flag else [],
    )


def _all_figures(data: ReportData) -> list[Figure]:
    return [*data.figures.values(), *data.samples, *([data.flagged] if data.flagged else [])]


def write_report(
    session: Session, store: MediaStore, lb: Leaderboard, out: Path, *, embed: bool = False
) -> str:
    """Render to `out` (.md → Markdown, anything else → HTML); returns the format used.

    A Markdown report links its figures as SVG files in a folder beside it (`<name>_figures/`),
    which keeps the text small and diffable; `embed=True` inlines them as data URIs instead.
    The HTML report always inlines its SVG (one file that opens offline)."""
    report_format = "md" if out.suffix.lower() in (".md", ".markdown") else "html"
    data = collect(session, store, lb)
    if report_format == "md" and not embed:
        folder = out.parent / f"{out.stem}_figures"
        folder.mkdir(exist_ok=True)
        for figure in _all_figures(data):
            if figure.svg:
                (folder / f"{figure.key}.svg").write_text(figure.svg, encoding="utf-8")
                figure.href = f"{folder.name}/{figure.key}.svg"
    out.write_text(render(data, report_format), encoding="utf-8")
    return report_format
