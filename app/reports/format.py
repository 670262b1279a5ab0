"""How numbers are printed: one set of rules for the page, the report and the tests.

The page, the HTML report and the Markdown report all format through these functions, so a number
reads the same wherever it appears; full-precision values travel in the JSON and CSV exports
(and in the page's data-value attributes, which sorting and the tests use).
"""

from __future__ import annotations

import math
from typing import Any

from app.metrics.catalog import DIGITS as METRIC_DIGITS

# Decimals per quantity: enough to separate generators, no more than the CIs justify.
DIGITS = {
    "bt": 1,
    "elo": 1,
    "win_rate": 3,
    "mos": 2,
    "flag_rate": 3,
    **METRIC_DIGITS,
    "correlation": 3,
    "kappa": 3,
    "share": 3,
}


def number(value: Any, quantity: str = "", digits: int | None = None) -> str:
    """A value with the quantity's decimals; an en dash for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    places = DIGITS.get(quantity, 3) if digits is None else digits
    return f"{float(value):.{places}f}"


def interval(low: Any, high: Any, quantity: str = "") -> str:
    """'[low, high]' or an empty string when there is no interval."""
    if low is None or high is None:
        return ""
    return f"[{number(low, quantity)}, {number(high, quantity)}]"


# How the preprocessing mode of an Inception-based number is labelled next to it.
MODE_LABELS = {
    "clean": "clean",
    "legacy_pytorch": "legacy pytorch",
    "legacy_tensorflow": "legacy TF",
}
_MAX_PLACES = 6


def uncertainty(cell: dict[str, Any]) -> float | None:
    """Half the width of the cell's interval, else its std; None when it states neither."""
    low, high = cell.get("ci_low"), cell.get("ci_high")
    if low is not None and high is not None and high > low:
        return (high - low) / 2
    std = cell.get("std")
    return float(std) if std else None


def places_for(spread: float | None, quantity: str) -> int:
    """Decimals that match the uncertainty: its first significant digit is the last one shown
    (±0.07 -> 2 decimals, ±4 -> 0); the quantity's default when there is no uncertainty."""
    if spread is None or not math.isfinite(spread) or spread <= 0:
        return DIGITS.get(quantity, 3)
    return int(min(max(-math.floor(math.log10(spread)), 0), _MAX_PLACES))


def bt_interval(human: dict[str, Any]) -> str:
    """A Bradley-Terry interval, with -inf / +inf where separation leaves a side unbounded."""
    unbounded = human.get("bt_ci_unbounded")
    if not unbounded:
        return interval(human.get("bt_ci_low"), human.get("bt_ci_high"), "bt")
    low = "−∞" if unbounded in ("low", "both") else number(human.get("bt_ci_low"), "bt")
    high = "+∞" if unbounded in ("high", "both") else number(human.get("bt_ci_high"), "bt")
    return f"[{low}, {high}]"


def metric_value(cell: dict[str, Any]) -> str:
    """A metric cell's number with the digits its uncertainty justifies, its interval (KID as
    mean ± std, or "no spread" when none could be estimated) and its preprocessing mode; or its
    note when there is no number."""
    if cell.get("state") != "ok" or cell.get("value") is None:
        return cell.get("note") or "–"
    places = places_for(uncertainty(cell), cell["metric"])
    text = number(cell["value"], digits=places)
    parameters = cell.get("parameters") or {}
    if cell["metric"] == "kid":
        if cell.get("std") is not None:
            text += f" ± {number(cell['std'], digits=places)}"
        elif "spread" in parameters:
            text += " (no spread)"
    elif cell.get("ci_low") is not None and cell.get("ci_high") is not None:
        text += (
            f" [{number(cell['ci_low'], digits=places)}, {number(cell['ci_high'], digits=places)}]"
        )
    mode = parameters.get("preprocessing_mode")
    if mode:
        text += f" ({MODE_LABELS.get(mode, mode)})"
    return text


def short_note(cell: dict[str, Any]) -> str:
    """The note of a metric cell cut to its first clause for a table cell ("unavailable: no CLIP
    weights"); the whole reason stays in the hover text and the notes list."""
    note = cell.get("note") or "–"
    if cell.get("state") == "missing":
        return "not computed"
    if cell.get("state") == "unavailable":
        head, _, reason = note.partition(": ")
        clause = reason.split(":")[0].split(";")[0].split(" (")[0].strip()
        if len(clause) > 48:
            clause = clause[:47].rstrip() + "…"
        return f"{head}: {clause}" if clause else head
    return note


def metric_details(cell: dict[str, Any]) -> str:
    """The hover text of a metric cell: n, CI, extractor, preprocessing, parameters, warnings."""
    parts = []
    if cell.get("n_gen") is not None:
        parts.append(f"n generated = {cell['n_gen']}")
    if cell.get("n_real") is not None:
        parts.append(f"n real = {cell['n_real']}")
    if cell.get("ci_low") is not None and cell.get("ci_high") is not None:
        what = {"fid": " of the large-N FID", "fid_infinity": " of FID∞"}.get(cell["metric"], "")
        parts.append(f"95% CI{what} {interval(cell['ci_low'], cell['ci_high'], cell['metric'])}")
    if cell.get("extractor"):
        parts.append(f"extractor {cell['extractor']}")
    if cell.get("preprocessing"):
        parts.append(f"preprocessing: {cell['preprocessing']}")
    if cell.get("parameters"):
        parts.append(
            "parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(cell["parameters"].items()))
        )
    for warning in cell.get("warnings") or []:
        parts.append(f"warning: {warning}")
    if cell.get("note"):
        parts.append(cell["note"])
    return "; ".join(parts)


def setting(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Footnotes:
    """Numbered notes under a table: each distinct text once, cells point at its number.

    Unavailable metrics and metric warnings become a short marker in the cell and one footnote
    below the table, instead of the same sentence in every row or a hover-only title."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def number(self, text: str) -> int:
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text) + 1


def table_notes(
    rows: list[dict[str, Any]], *, unavailable: bool = True
) -> tuple[Footnotes, dict[tuple[str, str], dict]]:
    """Footnotes for a leaderboard's metric cells, and per (generator, metric) what its cell
    shows: {"unavailable": number or None, "warnings": [numbers]} (`unavailable=False`: only
    warnings become notes)."""
    notes = Footnotes()
    marks: dict[tuple[str, str], dict] = {}
    for row in rows:
        for metric, cell in row["metrics"].items():
            mark: dict[str, Any] = {"unavailable": None, "warnings": []}
            if unavailable and cell.get("state") == "unavailable":
                mark["unavailable"] = notes.number(cell.get("note") or "unavailable")
            for warning in cell.get("warnings") or []:
                mark["warnings"].append(notes.number(warning))
            marks[(row["generator"], metric)] = mark
    return notes, marks


def ci_bars(rows: list[dict[str, Any]], value: str, low: str, high: str) -> dict[str, dict]:
    """Where each row's estimate and 95% interval sit on one scale shared by all rows, in
    percent of the bar's width: {generator: {"value", "low", "high", "open_low", "open_high"}}.
    An unbounded side (None) runs to the edge."""
    points = [
        v
        for r in rows
        for v in (r["human"].get(value), r["human"].get(low), r["human"].get(high))
        if v is not None and math.isfinite(v)
    ]
    if not points:
        return {}
    lo, hi = min(points), max(points)
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def at(v: float) -> float:
        return round(100 * (v - lo) / (hi - lo), 2)

    bars = {}
    for r in rows:
        h = r["human"]
        if h.get(value) is None:
            continue
        bars[r["generator"]] = {
            "value": at(h[value]),
            "low": 0.0 if h.get(low) is None else at(h[low]),
            "high": 100.0 if h.get(high) is None else at(h[high]),
            "open_low": h.get(low) is None,
            "open_high": h.get(high) is None,
        }
    return bars


def metric_notes(
    rows: list[dict[str, Any]], labels: dict[str, str]
) -> list[tuple[str, list[tuple[list[str], str]]]]:
    """Per metric, the generators that share the same parameters, preprocessing and warnings,
    each group stated once (n is in the table): [(label, [(generators, details)])]."""
    grouped: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        for metric, cell in row["metrics"].items():
            details = metric_details({**cell, "n_gen": None, "n_real": None}) or "–"
            grouped.setdefault(metric, {}).setdefault(details, []).append(row["generator"])
    return [
        (labels.get(metric, metric), [(names, text) for text, names in groups.items()])
        for metric, groups in grouped.items()
    ]
