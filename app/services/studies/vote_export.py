"""The votes export: every vote with what it takes to reproduce the leaderboard from the file.

Columns, Chatbot Arena layout first (model_a is the left image's generator): model_a, model_b,
winner; then the side-free judgement that agreement statistics use (item_id, rater, label), the
answer (choice, rating, flags, model for rating and flag studies), the images shown (public ids),
the prompt (external id, category, text), timing (ISO and Unix-epoch timestamps, server- and
client-measured response times), attention checks (check_kind, expected_choice, check_outcome:
pass, fail or inconclusive), the annotator (handle, simulated, excluded and why) and the
assignment id; in a study with aspects, `aspect` (the question's key; one row per aspect
of a task, each aspect's exclusions its own). `arena ratings`, `arena agreement` and `arena mos` read this file directly: they
skip attention-check rows, as the leaderboard does.

With exclusions applied (the default, as on the leaderboard) the votes of excluded annotators are
left out; without, every vote is there and `annotator_excluded` says whose the board drops.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from app.errors import InvalidInput
from app.leaderboard.board import load_vote_log
from app.leaderboard.human import check_outcome, judgement
from app.models import Assignment, CheckImage, Image, Prompt, Study, Vote
from app.models.enums import StudyKind
from app.services.studies.exclusions import exclusion_statuses

EXPORT_COLUMNS = [
    "model_a",
    "model_b",
    "winner",
    "item_id",
    "rater",
    "label",
    "choice",
    "rating",
    "flags",
    "model",
    "left_image",
    "right_image",
    "image",
    "study",
    "aspect",
    "prompt_id",
    "prompt_category",
    "prompt",
    "created_at",
    "created_at_epoch",
    "server_ms",
    "client_ms",
    "check_kind",
    "expected_choice",
    "check_outcome",
    "annotator",
    "annotator_simulated",
    "annotator_excluded",
    "annotator_exclusion_reasons",
    "assignment",
]
OUTCOME = {True: "pass", False: "fail", None: "inconclusive"}


def _extras(session: Session, study: Study) -> dict[int, tuple]:
    """Per vote id: what the export shows beyond the leaderboard's vote log."""
    left, right, single = aliased(Image), aliased(Image), aliased(Image)
    rows = session.execute(
        select(
            Vote.id,
            Vote.created_at,
            Vote.client_ms,
            Assignment.public_id,
            Assignment.degraded_side,
            CheckImage.public_id,
            left.public_id,
            right.public_id,
            single.public_id,
            Prompt.category,
            Prompt.text,
        )
        .join(Assignment, Assignment.id == Vote.assignment_id)
        .outerjoin(CheckImage, CheckImage.id == Assignment.check_image_id)
        .outerjoin(left, left.id == Assignment.image_left_id)
        .outerjoin(right, right.id == Assignment.image_right_id)
        .outerjoin(single, single.id == Assignment.image_id)
        .outerjoin(Prompt, Prompt.id == Assignment.prompt_id)
        .where(Vote.study_id == study.id)
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def export_rows(session: Session, study: Study, *, exclusions: bool = True) -> list[dict[str, Any]]:
    """One dict per vote in the leaderboard's order (time, then id): every aspect's votes in a
    study with aspects, so each aspect's rows alone are that aspect's board's votes in order."""
    extras = _extras(session, study)
    if not study.aspects:
        return _aspect_rows(session, study, None, extras, exclusions)
    rows = []
    for aspect in study.aspect_keys:
        rows += _aspect_rows(session, study, aspect, extras, exclusions)
    rows.sort(key=lambda row: (row["created_at_epoch"], row.pop("_vote_id")))
    return rows


def _aspect_rows(session, study, aspect, extras, exclusions) -> list[dict[str, Any]]:
    log, annotators = load_vote_log(session, study, aspect)
    _figures, status = exclusion_statuses(session, study, aspect)
    by_assignment = {a: k for k, a in enumerate(log.assignment)}
    out = []
    for k in range(len(log)):
        handle = log.annotator[k]
        state = status.get(handle)
        excluded = bool(state and state.excluded)
        if exclusions and excluded:
            continue
        (
            created,
            client_ms,
            assignment,
            degraded,
            check_image,
            left,
            right,
            single,
            category,
            text,
        ) = extras[log.vote_id[k]]
        real = log.check_kind[k] is None
        item, label = (None, None)
        if real:
            item, label = judgement(
                log.kind,
                prompt=log.prompt_ref[k],
                left=log.left[k],
                right=log.right[k],
                choice=log.choice[k],
                image=single,
                rating=log.rating[k],
                flags=log.flags[k],
            )
        pairwise = log.kind == StudyKind.pairwise
        out.append(
            {
                # A check's degraded side names no generator: check rows are no battles.
                "model_a": (log.left[k] if pairwise else log.generator[k]) if real else None,
                "model_b": log.right[k] if pairwise and real else None,
                "winner": log.winner[k],
                "item_id": item,
                "rater": handle if real else None,
                "label": label,
                "choice": log.choice[k],
                "rating": log.rating[k],
                "flags": log.flags[k],
                "model": log.generator[k] if not pairwise else None,
                "left_image": check_image if degraded == "left" else left,
                "right_image": check_image if degraded == "right" else right,
                "image": check_image if degraded == "single" else single,
                "study": study.name,
                "aspect": aspect,
                "prompt_id": log.prompt_ref[k],
                "prompt_category": category,
                "prompt": text,
                "created_at": created.isoformat(),
                "created_at_epoch": round(created.timestamp(), 6),
                "server_ms": log.server_ms[k],
                "client_ms": client_ms,
                "check_kind": log.check_kind[k],
                "expected_choice": log.expected[k],
                "check_outcome": None if real else OUTCOME[check_outcome(log, k, by_assignment)],
                "annotator": handle,
                "annotator_simulated": annotators.get(handle).is_simulated
                if handle in annotators
                else False,
                "annotator_excluded": excluded,
                "annotator_exclusion_reasons": list(state.reasons) if state else [],
                "assignment": assignment,
            }
        )
        if aspect is not None:
            out[-1]["_vote_id"] = log.vote_id[k]  # the order across aspects (export_rows)
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def export_votes(
    session: Session, study: Study, fmt: str = "csv", *, exclusions: bool = True
) -> str:
    """The votes export as CSV or JSON lines (see module docstring)."""
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"format must be csv or jsonl; got {fmt!r}")
    rows = export_rows(session, study, exclusions=exclusions)
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **{key: _cell(value) for key, value in row.items()},
                "flags": "" if row["flags"] is None else "|".join(row["flags"]),
                "annotator_exclusion_reasons": "; ".join(row["annotator_exclusion_reasons"]),
            }
        )
    return buffer.getvalue()
