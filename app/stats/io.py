"""Plain-file readers for votes and ratings (csv module only, so the server can reuse them).

Every error is an InputFormatError naming the 1-based physical line (the header is line 1).

Layouts:
  battles  model_a, model_b, winner (model_a | model_b | tie | tie (bothbad)); rows in time order;
           model_a was shown on the left (the Chatbot Arena battle export).
  ratings  wide: item_id, rater1..raterN (every column whose name starts with "rater"; other
           columns, e.g. true_label, are ignored; an empty cell is a missing rating)
           or long: item_id, rater, label.
  mos      wide: item_id, model, rater1..raterN with numeric scores (empty cell = missing)
           or long: item_id, model, rater, rating (or score).

Gallery Arena's own votes export is read as it is: it has the long columns, and a `check_kind`
column whose non-empty rows (attention checks, never part of the figures) are skipped. A study
with aspects exports an `aspect` column: the readers take `aspect` and read that aspect's rows.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.stats.battles import WINNER_LABELS, Battles, battles_from_records
from app.stats.exceptions import InputFormatError

# A path, or an open text stream (e.g. io.StringIO(upload, newline="") on the server).
Source = str | Path | TextIO


@contextmanager
def _open(source: Source) -> Iterator[TextIO]:
    if isinstance(source, (str, Path)):
        try:
            with open(source, newline="", encoding="utf-8-sig") as handle:
                yield handle
        except FileNotFoundError:
            raise InputFormatError("no such file") from None
        except UnicodeDecodeError as exc:
            raise InputFormatError(f"not UTF-8 text: {exc}") from None
    else:
        yield source


def _reader(handle: TextIO) -> tuple[csv.reader, list[str]]:
    reader = csv.reader(handle)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputFormatError("empty file: no header", line=1) from None
    except csv.Error as exc:
        raise InputFormatError(str(exc), line=1) from None
    return reader, header


def _rows(
    reader: csv.reader, header: list[str], aspect: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """The data rows; of one aspect when the file has an `aspect` column (a votes export of a
    study asking several questions), which then must be chosen."""
    width = len(header)
    column = header.index("aspect") if "aspect" in header else None
    if aspect is not None and column is None:
        raise InputFormatError(f"no 'aspect' column: cannot select aspect {aspect!r}", line=1)
    seen: set[str] = set()
    for line, row in _all_rows(reader, width):
        if column is not None:
            value = row[column]
            if aspect is None and value:
                seen.add(value)
                if len(seen) > 1:
                    raise InputFormatError(
                        f"the file holds several aspects ({', '.join(sorted(seen))}, ...): "
                        "choose one (--aspect)",
                        line=line,
                    )
            elif aspect is not None and value != aspect:
                continue
        yield line, row


def _all_rows(reader: csv.reader, width: int) -> Iterator[tuple[int, list[str]]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputFormatError(str(exc), line=reader.line_num) from None
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise InputFormatError(
                f"expected {width} fields, found {len(row)}", line=reader.line_num
            )
        yield reader.line_num, [cell.strip() for cell in row]


def _require(header: list[str], columns: tuple[str, ...]) -> dict[str, int]:
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputFormatError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}", line=1
        )
    return {c: header.index(c) for c in columns}


def _is_check(header: list[str], row: list[str]) -> bool:
    """An attention-check row of a Gallery Arena votes export."""
    return "check_kind" in header and bool(row[header.index("check_kind")])


def read_battles(source: Source, aspect: str | None = None) -> Battles:
    """Chatbot Arena battle log -> Battles (generators in order of first appearance)."""
    with _open(source) as handle:
        reader, header = _reader(handle)
        col = _require(header, ("model_a", "model_b", "winner"))
        model_a: list[str] = []
        model_b: list[str] = []
        winner: list[str] = []
        for line, row in _rows(reader, header, aspect):
            if _is_check(header, row):
                continue
            a, b, w = row[col["model_a"]], row[col["model_b"]], row[col["winner"]]
            if not a or not b:
                hint = (
                    " (a rating or flag study's votes hold no battles: use `arena mos`)"
                    if a and not b and "rating" in header
                    else ""
                )
                raise InputFormatError(f"empty model name{hint}", line=line)
            if w not in WINNER_LABELS:
                raise InputFormatError(
                    f"unknown winner {w!r}; expected one of {', '.join(WINNER_LABELS)}", line=line
                )
            if a == b:
                raise InputFormatError(f"model {a!r} plays itself", line=line)
            model_a.append(a)
            model_b.append(b)
            winner.append(w)
    return battles_from_records(model_a, model_b, winner)


def _number(text: str, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputFormatError(f"{what} {text!r} is not a number", line=line) from None
    if not math.isfinite(value):
        raise InputFormatError(f"{what} {text!r} is not a finite number", line=line)
    return value


@dataclass(frozen=True)
class RatingsTable:
    """items x raters labels (None = missing); labels are floats when every label is numeric."""

    items: tuple[str, ...]
    raters: tuple[str, ...]
    labels: tuple[tuple[object, ...], ...]
    layout: str  # "wide" or "long"
    numeric: bool


def _numeric_or_text(rows: list[list[str | None]]) -> tuple[list[list[object]], bool]:
    cells = [v for r in rows for v in r if v is not None]
    try:
        [float(v) for v in cells]
    except ValueError:
        return rows, False
    return [[None if v is None else float(v) for v in r] for r in rows], True


def read_ratings(source: Source, aspect: str | None = None) -> RatingsTable:
    """Agreement input, wide (item_id, rater1..raterN) or long (item_id, rater, label)."""
    with _open(source) as handle:
        reader, header = _reader(handle)
        if "item_id" not in header:
            raise InputFormatError("missing column item_id", line=1)
        item_col = header.index("item_id")
        if "rater" in header and "label" in header:
            rater_col, label_col = header.index("rater"), header.index("label")
            cells: dict[str, dict[str, str]] = {}
            raters: dict[str, None] = {}
            for line, row in _rows(reader, header, aspect):
                if _is_check(header, row):
                    continue
                item, rater, label = row[item_col], row[rater_col], row[label_col]
                if not item or not rater:
                    raise InputFormatError("empty item_id or rater", line=line)
                if rater in cells.setdefault(item, {}):
                    raise InputFormatError(f"rater {rater!r} rated item {item!r} twice", line=line)
                if label:
                    cells[item][rater] = label
                raters.setdefault(rater)
            names = tuple(raters)
            rows = [[cells[i].get(r) for r in names] for i in cells]
            items, layout = tuple(cells), "long"
        else:
            rater_cols = [k for k, h in enumerate(header) if h.lower().startswith("rater")]
            if not rater_cols:
                raise InputFormatError(
                    "no rater columns: expected item_id, rater1..raterN or item_id, rater, label",
                    line=1,
                )
            names = tuple(header[k] for k in rater_cols)
            rows, item_list, seen = [], [], set()
            for line, row in _rows(reader, header, aspect):
                item = row[item_col]
                if not item:
                    raise InputFormatError("empty item_id", line=line)
                if item in seen:
                    raise InputFormatError(f"item {item!r} appears twice", line=line)
                seen.add(item)
                item_list.append(item)
                rows.append([row[k] or None for k in rater_cols])
            items, layout = tuple(item_list), "wide"
    if not rows:
        raise InputFormatError("no ratings after the header", line=2)
    labels, numeric = _numeric_or_text(rows)
    return RatingsTable(items, names, tuple(tuple(r) for r in labels), layout, numeric)


@dataclass(frozen=True)
class MOSRatings:
    """Long-format scores (one entry per rating) plus the items x raters matrix for agreement."""

    models: tuple[str, ...]
    items: tuple[str, ...]
    raters: tuple[str, ...]
    scores: tuple[float, ...]
    rater_names: tuple[str, ...]
    matrix: tuple[tuple[float | None, ...], ...]  # items x raters, None = missing


def _read_mos_long(
    reader: csv.reader, header: list[str], score_column: str, aspect: str | None = None
) -> MOSRatings:
    col = _require(header, ("item_id", "model", "rater", score_column))
    models, items, raters, scores = [], [], [], []
    cells: dict[str, dict[str, float]] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, row in _rows(reader, header, aspect):
        if _is_check(header, row):
            continue
        item, model, rater = row[col["item_id"]], row[col["model"]], row[col["rater"]]
        if not item or not model or not rater:
            raise InputFormatError("empty item_id, model or rater", line=line)
        if (item, rater) in seen:
            raise InputFormatError(f"rater {rater!r} rated item {item!r} twice", line=line)
        seen[(item, rater)] = line
        if not row[col[score_column]]:
            continue
        value = _number(row[col[score_column]], line, f"{score_column} of {rater}")
        models.append(model)
        items.append(item)
        raters.append(rater)
        scores.append(value)
        cells.setdefault(item, {})[rater] = value
    if not scores:
        raise InputFormatError("no scores after the header", line=2)
    names = tuple(dict.fromkeys(raters))
    matrix = tuple(tuple(cells[i].get(r) for r in names) for i in cells)
    return MOSRatings(tuple(models), tuple(items), tuple(raters), tuple(scores), names, matrix)


def read_mos(source: Source, aspect: str | None = None) -> MOSRatings:
    """MOS input: item_id, model, rater1..raterN (wide) or item_id, model, rater, rating (long)."""
    with _open(source) as handle:
        reader, header = _reader(handle)
        if "rater" in header and ("rating" in header or "score" in header):
            return _read_mos_long(
                reader, header, "rating" if "rating" in header else "score", aspect
            )
        col = _require(header, ("item_id", "model"))
        rater_cols = [k for k, h in enumerate(header) if h.lower().startswith("rater")]
        if not rater_cols:
            raise InputFormatError(
                "no rater columns: expected item_id, model, rater1..raterN "
                "or item_id, model, rater, rating",
                line=1,
            )
        names = tuple(header[k] for k in rater_cols)
        models, items, raters, scores, matrix, seen = [], [], [], [], [], set()
        for line, row in _rows(reader, header, aspect):
            item, model = row[col["item_id"]], row[col["model"]]
            if not item or not model:
                raise InputFormatError("empty item_id or model", line=line)
            if item in seen:
                raise InputFormatError(f"item {item!r} appears twice", line=line)
            seen.add(item)
            cells: list[float | None] = []
            for k, name in zip(rater_cols, names):
                if not row[k]:
                    cells.append(None)
                    continue
                value = _number(row[k], line, f"score of {name}")
                cells.append(value)
                models.append(model)
                items.append(item)
                raters.append(name)
                scores.append(value)
            matrix.append(tuple(cells))
    if not scores:
        raise InputFormatError("no scores after the header", line=2)
    return MOSRatings(
        tuple(models), tuple(items), tuple(raters), tuple(scores), names, tuple(matrix)
    )
