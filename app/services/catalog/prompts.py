"""Prompt sets: the prompts every generator answers, so pairs compare the same prompt."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput
from app.models import Assignment, Image, Prompt, PromptSet, Study
from app.services.lookup import get_by_ref
from app.validation import check_text, check_tree, csv_error


@dataclass(frozen=True)
class PromptRow:
    external_id: str
    text: str
    category: str | None = None


def parse_prompts_csv(text: str) -> list[PromptRow]:
    """Columns: external_id (or id), text (or prompt), optional category."""
    check_text(text, "the prompts CSV")
    reader = csv.DictReader(io.StringIO(text))
    line = 1
    try:
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        id_col = fields.get("external_id") or fields.get("id")
        text_col = fields.get("text") or fields.get("prompt")
        if id_col is None or text_col is None:
            raise InvalidInput(
                "the prompts CSV needs a header with columns external_id and text (category "
                f"optional); found {reader.fieldnames}"
            )
        cat_col = fields.get("category")
        rows = []
        for line, record in enumerate(reader, start=2):
            external_id = (record.get(id_col) or "").strip()
            prompt_text = (record.get(text_col) or "").strip()
            if not external_id or not prompt_text:
                raise InvalidInput(
                    f"line {line} of the prompts CSV has an empty external_id or text"
                )
            category = (record.get(cat_col) or "").strip() or None if cat_col else None
            if len(external_id) > 200 or len(category or "") > 200:
                raise InvalidInput(
                    f"line {line} of the prompts CSV: external_id and category take at most "
                    "200 characters"
                )
            rows.append(PromptRow(external_id, prompt_text, category))
    except csv.Error as exc:
        raise csv_error(exc, line + 1, "the prompts CSV") from None
    return rows


def parse_prompts_json(data: object) -> list[PromptRow]:
    """A list of {"external_id", "text", "category"?} objects, or {external_id: text}."""
    check_tree(data, "the prompts")
    if isinstance(data, dict):
        data = [{"external_id": k, "text": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise InvalidInput("prompts must be a list of {external_id, text, category} objects")
    rows = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not item.get("external_id") or not item.get("text"):
            raise InvalidInput(f"prompt #{index} needs non-empty external_id and text")
        category = item.get("category")
        rows.append(PromptRow(str(item["external_id"]), str(item["text"]), category))
    return rows


def load_prompts_file(name: str, text: str) -> list[PromptRow]:
    if name.lower().endswith(".json"):
        try:
            return parse_prompts_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name} is not valid JSON: {exc}") from None
    return parse_prompts_csv(text)


def create_prompt_set(
    session: Session, name: str, rows: list[PromptRow], description: str = ""
) -> PromptSet:
    if not rows:
        raise InvalidInput("the prompt set is empty")
    check_text(name, "the prompt set name")
    check_text(description, "the description")
    seen: set[str] = set()
    for row in rows:
        if row.external_id in seen:
            raise InvalidInput(f"external_id {row.external_id!r} appears twice in the prompt set")
        seen.add(row.external_id)
    if session.scalar(select(PromptSet.id).where(PromptSet.name == name)) is not None:
        raise Conflict(f"a prompt set named {name!r} already exists")
    prompt_set = PromptSet(name=name, description=description)
    prompt_set.prompts = [
        Prompt(external_id=r.external_id, text=r.text, category=r.category) for r in rows
    ]
    session.add(prompt_set)
    session.flush()
    return prompt_set


def list_prompt_sets(session: Session) -> list[PromptSet]:
    return list(session.scalars(select(PromptSet).order_by(PromptSet.id)))


def get_prompt_set(session: Session, ref: str | int) -> PromptSet:
    """Look up by numeric id or by name."""
    return get_by_ref(session, PromptSet, ref, "prompt set", "/api/prompt-sets")


def resolve_prompts(
    session: Session, external_ids: set[str], prompt_set: PromptSet | None
) -> dict[str, Prompt]:
    """Map external ids to prompts, within one prompt set or, if none given, unambiguously."""
    query = select(Prompt).where(Prompt.external_id.in_(external_ids))
    if prompt_set is not None:
        query = query.where(Prompt.prompt_set_id == prompt_set.id)
    found: dict[str, Prompt] = {}
    for prompt in session.scalars(query):
        if prompt.external_id in found:
            raise InvalidInput(
                f"prompt {prompt.external_id!r} exists in several prompt sets; "
                "say which with the prompt_set field"
            )
        found[prompt.external_id] = prompt
    missing = sorted(external_ids - found.keys())
    if missing:
        where = f" in prompt set {prompt_set.name!r}" if prompt_set else ""
        shown = ", ".join(repr(m) for m in missing[:10])
        raise InvalidInput(
            f"the manifest names {len(missing)} prompt(s) that do not exist{where}: {shown}"
        )
    return found


def delete_prompt_set(session: Session, prompt_set: PromptSet) -> None:
    """Delete a prompt set nothing refers to; Conflict (409) says what still uses it."""
    prompt_ids = select(Prompt.id).where(Prompt.prompt_set_id == prompt_set.id)
    studies = list(session.scalars(select(Study.name).where(Study.prompt_set_id == prompt_set.id)))
    images = session.scalar(select(func.count()).where(Image.prompt_id.in_(prompt_ids)))
    tasks = session.scalar(select(func.count()).where(Assignment.prompt_id.in_(prompt_ids)))
    uses = []
    if studies:
        uses.append(f"studies {', '.join(map(repr, studies[:5]))}")
    if images:
        uses.append(f"{images} image(s) answer its prompts")
    if tasks:
        uses.append(f"{tasks} annotator task(s)")
    if uses:
        raise Conflict(
            f"prompt set {prompt_set.name!r} is in use ({'; '.join(uses)}); only an unused "
            "prompt set can be deleted"
        )
    for prompt in prompt_set.prompts:
        session.delete(prompt)
    session.delete(prompt_set)
    session.flush()
