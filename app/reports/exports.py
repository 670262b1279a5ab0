"""Exports of a study: votes (Chatbot Arena battle layout), the leaderboard, metric results, and
a reference set's statistics (.npz). One function per export, shared by the API, the web page
and `arena export`, so a downloaded file holds exactly what the page shows."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.leaderboard.board import Leaderboard, flat_row
from app.leaderboard.metric_cells import metric_results_table
from app.models import ReferenceSet, Study
from app.models.enums import StudyKind
from app.services.catalog.reference_statistics import statistics_filename, statistics_npz
from app.services.studies.vote_export import export_votes

WHAT = ("votes", "leaderboard", "metrics")
FORMATS = {
    "votes": ("csv", "jsonl"),
    "leaderboard": ("csv", "json"),
    "metrics": ("csv", "json"),
}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}


@dataclass(frozen=True)
class Export:
    content: str | bytes
    media_type: str
    filename: str


def check_request(what: str, fmt: str) -> None:
    """InvalidInput (422) naming the allowed values when `what` or `fmt` is unknown."""
    if what not in WHAT:
        raise InvalidInput(f"what must be one of {', '.join(WHAT)}; got {what!r}")
    if fmt not in FORMATS[what]:
        raise InvalidInput(
            f"a {what} export comes as {' or '.join(FORMATS[what])}; got format {fmt!r}"
        )


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing or non-finite numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    return json.dumps(_clean(payload), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _csv(records: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for record in records:
        columns += [c for c in record if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _cell(v) for k, v in record.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    # repr keeps every digit of a float, so a CSV cell parses back to the JSON number exactly.
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return ""
    return value


def leaderboard_records(lb: Leaderboard) -> list[dict[str, Any]]:
    """One flat record per generator; a study with aspects adds the aspect the figures are of
    and every aspect's rating with its interval (`aspect[KEY]`, `_ci_low`, `_ci_high`)."""
    flags = lb.study["flag_options"] if lb.study["kind"] == StudyKind.flag else []
    records = [flat_row(row, flags) for row in lb.rows]
    if not lb.aspects:
        return records
    score = "bt" if lb.study["kind"] == StudyKind.pairwise else "mos"
    out = []
    for record in records:
        front = {"position": record.pop("position"), "generator": record["generator"]}
        front["aspect"] = lb.options.get("aspect")
        for aspect in lb.aspects:
            cell = aspect["generators"].get(record["generator"], {})
            column = f"aspect[{aspect['key']}]"
            front[column] = cell.get(score)
            front[f"{column}_ci_low"] = cell.get(f"{score}_ci_low")
            front[f"{column}_ci_high"] = cell.get(f"{score}_ci_high")
        out.append({**front, **record})
    return out


def export_leaderboard(lb: Leaderboard, fmt: str) -> str:
    if fmt == "json":
        return to_json(lb.to_dict())
    return _csv(leaderboard_records(lb))


def export_metrics(session: Session, study: Study, fmt: str) -> str:
    records = metric_results_table(session, [g.id for g in study.generators])
    if fmt == "json":
        return to_json({"study": study.name, "metric_results": records})
    return _csv(records)


def export_study(
    session: Session,
    study: Study,
    what: str,
    fmt: str,
    leaderboard: Leaderboard | None = None,
    *,
    exclusions: bool = True,
) -> Export:
    """One export of a study; `leaderboard` is the (cached) leaderboard for what=leaderboard;
    `exclusions` leaves excluded annotators' votes out of the votes export (as the board does)."""
    check_request(what, fmt)
    stem = f"{study.name}-{what}".replace("/", "_").replace(" ", "_")
    if what == "votes":
        stem += "" if exclusions else "-all"
        content = export_votes(session, study, fmt, exclusions=exclusions)
    elif what == "metrics":
        content = export_metrics(session, study, fmt)
    else:
        if leaderboard is None:
            raise ValueError("a leaderboard export needs the leaderboard")
        if leaderboard.options.get("aspect"):
            stem += f"-{leaderboard.options['aspect']}"
        content = export_leaderboard(leaderboard, fmt)
    return Export(content, MEDIA_TYPES[fmt], f"{stem}.{fmt}")


# ----------------------------------------------------------------------------- reference stats


def reference_statistics(
    session: Session, features_root: Path, reference_set: ReferenceSet
) -> Export:
    """A reference set's Inception statistics as a downloadable .npz (see
    app.services.catalog.reference_statistics)."""
    return Export(
        statistics_npz(session, features_root, reference_set),
        "application/octet-stream",
        statistics_filename(reference_set),
    )
