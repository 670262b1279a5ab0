"""Studies: create, change, open and close them, and enumerate the items they ask about.

An item is what `raters_per_item` distinct annotators each answer once: a (prompt, generator
pair) for pairwise studies, one image for rating and flag studies.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.models import Generator, Image, Prompt, Study, Vote
from app.models.enums import StudyKind, StudyStatus
from app.services.catalog.generators import get_generator
from app.services.catalog.prompts import get_prompt_set
from app.services.catalog.reference_sets import get_reference_set
from app.services.studies.hot_path import bind_key
from app.services.studies.schemas import StudyCreate, StudyFields, StudyUpdate
from app.validation import MAX_ID, is_row_id

DEFAULT_QUESTIONS = {
    StudyKind.pairwise: "Which image better matches the prompt?",
    StudyKind.rating: "How good is this image overall?",
    StudyKind.flag: "Which of these problems does the image show?",
}
# Above a task of a study with aspects (each aspect's question is shown with its answers).
ASPECTS_QUESTION = "Answer each question about this task."
DEFAULT_INSTRUCTIONS = (
    "You will see images made by different image generators. Judge each image only by what you "
    "see. There are no right or wrong answers except on a few control items. Your answers are "
    "stored with an anonymous handle and used for research on image-generation quality."
)


# Analysis settings: they change who is excluded and how many votes one person may cast, never
# what was asked, so they may change while a study is open.
RULE_FIELDS = (
    "min_attention_checks",
    "min_attention_accuracy",
    "min_repeat_consistency",
    "min_loo_agreement",
    "min_median_response_s",
    "max_vote_share",
)


def _resolve_generators(session: Session, refs: list[str | int], kind: str) -> list[Generator]:
    generators = [get_generator(session, ref) for ref in refs]
    if len({g.id for g in generators}) != len(generators):
        raise InvalidInput("a generator is listed twice in 'generators'")
    if kind == StudyKind.pairwise and len(generators) < 2:
        raise InvalidInput("a pairwise study needs at least two generators")
    return generators


def _aspects(kind: str, aspects: list | None) -> list[dict[str, str]] | None:
    """The stored form of a study's aspects (None: the one question)."""
    if not aspects:
        return None
    if kind not in (StudyKind.pairwise, StudyKind.rating):
        raise InvalidInput("aspects are for pairwise and rating studies only")
    return [{"key": a.key, "question": a.question} for a in aspects]


def create_study(session: Session, body: StudyCreate) -> Study:
    if session.scalar(select(Study.id).where(Study.name == body.name)) is not None:
        raise Conflict(f"a study named {body.name!r} already exists")
    generators = _resolve_generators(session, body.generators, body.kind)
    prompt_set = get_prompt_set(session, body.prompt_set) if body.prompt_set is not None else None
    reference = (
        get_reference_set(session, body.reference_set) if body.reference_set is not None else None
    )
    loo = body.min_loo_agreement
    if body.kind == StudyKind.rating and "min_loo_agreement" not in body.model_fields_set:
        loo = None  # exact agreement on a 1-5 score is not expected of honest raters
    study = Study(
        name=body.name,
        kind=body.kind,
        question=body.question
        or (ASPECTS_QUESTION if body.aspects else DEFAULT_QUESTIONS[body.kind]),
        instructions=body.instructions if body.instructions is not None else DEFAULT_INSTRUCTIONS,
        raters_per_item=body.raters_per_item,
        attention_check_rate=body.attention_check_rate,
        flag_options=body.flag_options,
        aspects=_aspects(body.kind, body.aspects),
        pair_policy=body.pair_policy,
        is_public=body.is_public,
        max_tasks_per_annotator=body.max_tasks_per_annotator,
        display_size=body.display_size,
        prompt_set_id=prompt_set.id if prompt_set else None,
        reference_set_id=reference.id if reference else None,
        min_attention_checks=body.min_attention_checks,
        min_attention_accuracy=body.min_attention_accuracy,
        min_repeat_consistency=body.min_repeat_consistency,
        min_loo_agreement=loo,
        min_median_response_s=body.min_median_response_s,
        max_vote_share=body.max_vote_share,
        status=StudyStatus.draft,
        generators=generators,
    )
    session.add(study)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a study named {body.name!r} already exists") from None
    return study


def list_studies(session: Session) -> list[Study]:
    return list(session.scalars(select(Study).order_by(Study.id)))


def get_study(session: Session, ref: str | int) -> Study:
    """By numeric id, public id or name."""
    if isinstance(ref, int) or is_row_id(ref):
        study = session.get(Study, int(ref)) if 0 < int(ref) <= MAX_ID else None
    elif str(ref).isascii() and str(ref).isdigit():
        study = None  # beyond the id range
    else:
        study = session.scalar(select(Study).where((Study.name == ref) | (Study.public_id == ref)))
    if study is None:
        raise NotFound(f"no study {ref!r}; list them with GET /api/studies")
    return study


def get_study_by_public_id(session: Session, public_id: str) -> Study:
    """For annotator pages: only the opaque id is accepted, never a name or a sequential id."""
    study = session.scalar(select(Study).where(Study.public_id == public_id))
    if study is None:
        raise NotFound("no such study")
    return study


def update_study(session: Session, study: Study, body: StudyUpdate) -> Study:
    changes = body.model_dump(exclude_unset=True)
    if study.status != StudyStatus.draft:
        # Once votes may exist, changing what was asked would mix answers to different questions.
        allowed = {
            "is_public",
            "max_tasks_per_annotator",
            "instructions",
            "reference_set",
            *RULE_FIELDS,
        }
        refused = sorted(set(changes) - allowed)
        if refused:
            raise Conflict(
                f"study {study.name!r} is {study.status}; only {sorted(allowed)} can change "
                f"after it opened (refused: {refused})"
            )
    if "flag_options" in changes:
        changes["flag_options"] = StudyFields(flag_options=changes["flag_options"]).flag_options
    if "aspects" in changes:
        changes["aspects"] = _aspects(study.kind, body.aspects)
    if "reference_set" in changes:
        ref = changes.pop("reference_set")
        changes["reference_set_id"] = (
            get_reference_set(session, ref).id if ref is not None else None
        )
    for key, value in changes.items():
        if value is None and key in {
            "question",
            "raters_per_item",
            "attention_check_rate",
            "flag_options",
            "pair_policy",
            "is_public",
            "display_size",
            "min_attention_checks",
            "max_vote_share",
        }:
            raise InvalidInput(f"{key} cannot be null")
        setattr(study, key, value)
    session.flush()
    return study


def delete_study(session: Session, study: Study) -> None:
    if session.scalar(select(func.count()).select_from(Vote).where(Vote.study_id == study.id)):
        raise Conflict(f"study {study.name!r} has votes; close it instead of deleting it")
    session.delete(study)
    session.flush()


def open_study(session: Session, study: Study) -> Study:
    if study.status == StudyStatus.open:
        return study
    if not study_items(session, study):
        raise Conflict(
            f"study {study.name!r} has no items: upload images of its generators "
            + ("for the same prompts" if study.kind == StudyKind.pairwise else "")
        )
    study.status = StudyStatus.open
    session.flush()
    return study


def close_study(session: Session, study: Study) -> Study:
    study.status = StudyStatus.closed
    session.flush()
    return study


@dataclass(frozen=True)
class Item:
    """One thing to be judged. For pairwise, gen_a < gen_b by generator id (sides come later).

    A pairwise item is (prompt, generator pair); `images_a` and `images_b` hold every image each
    generator has for the prompt, and each assignment shows the least-shown one of each (see
    assignment._reserve), so every uploaded image is judged and they are judged equally often.
    image_a and image_b are the first of each, for callers that need one."""

    key: str
    prompt_id: int | None
    image_a: int
    gen_a: int
    image_b: int | None = None
    gen_b: int | None = None
    images_a: tuple[int, ...] = ()
    images_b: tuple[int, ...] = ()


def study_images(session: Session, study: Study) -> list[tuple[int, int, int | None]]:
    """(image id, generator id, prompt id) of the study's pool, oldest first."""
    generator_ids = [g.id for g in study.generators]
    query = (
        select(Image.id, Image.generator_id, Image.prompt_id)
        .where(Image.generator_id.in_(generator_ids))
        .order_by(Image.id)
    )
    if study.prompt_set_id is not None:
        query = query.join(Prompt, Prompt.id == Image.prompt_id).where(
            Prompt.prompt_set_id == study.prompt_set_id
        )
    return [tuple(row) for row in session.execute(query)]


# Items only change when the pool does (a new upload, other generators), but every task handed
# out needs them: keep the last few per fingerprint of the pool instead of rebuilding them.
_ITEMS_CACHE: OrderedDict[tuple, dict[str, Item]] = OrderedDict()
_ITEMS_CACHE_SIZE = 32
_ITEMS_LOCK = threading.Lock()


def _pool_fingerprint(session: Session, study: Study) -> tuple:
    """What the item list depends on; creation times tell apart databases that reuse ids."""
    generator_ids = tuple(sorted(g.id for g in study.generators))
    query = select(func.count(Image.id), func.max(Image.id), func.max(Image.created_at)).where(
        Image.generator_id.in_(generator_ids)
    )
    if study.prompt_set_id is not None:
        query = query.join(Prompt, Prompt.id == Image.prompt_id).where(
            Prompt.prompt_set_id == study.prompt_set_id
        )
    count, last_id, last_created = session.execute(query).one()
    return (
        bind_key(session),
        study.id,
        study.created_at,
        study.kind,
        study.prompt_set_id,
        generator_ids,
        count,
        last_id,
        last_created,
    )


def study_items(session: Session, study: Study) -> dict[str, Item]:
    """Every item of the study by key (see Item).

    The returned mapping is shared between callers (cached): read it, never change it."""
    key = _pool_fingerprint(session, study)
    with _ITEMS_LOCK:
        cached = _ITEMS_CACHE.get(key)
        if cached is not None:
            _ITEMS_CACHE.move_to_end(key)
            return cached
    items = _build_items(session, study)
    with _ITEMS_LOCK:
        _ITEMS_CACHE[key] = items
        while len(_ITEMS_CACHE) > _ITEMS_CACHE_SIZE:
            _ITEMS_CACHE.popitem(last=False)
    return items


def _build_items(session: Session, study: Study) -> dict[str, Item]:
    images = study_images(session, study)
    if study.kind != StudyKind.pairwise:
        return {f"i{img}": Item(f"i{img}", prompt, img, gen) for img, gen, prompt in images}
    by_prompt: dict[int, dict[int, list[int]]] = {}
    for img, gen, prompt in images:
        if prompt is not None:
            by_prompt.setdefault(prompt, {}).setdefault(gen, []).append(img)
    items: dict[str, Item] = {}
    for prompt, per_gen in by_prompt.items():
        gens = sorted(per_gen)
        for a_index, gen_a in enumerate(gens):
            for gen_b in gens[a_index + 1 :]:
                key = f"p{prompt}:{gen_a}:{gen_b}"
                a, b = tuple(per_gen[gen_a]), tuple(per_gen[gen_b])
                items[key] = Item(key, prompt, a[0], gen_a, b[0], gen_b, a, b)
    return items
