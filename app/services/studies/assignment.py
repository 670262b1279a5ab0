"""Handing out tasks: the next item for an annotator, race-free on PostgreSQL and SQLite.

A task for a real item holds one of the item's `raters_per_item` slots. A free slot is a row of
`study_slots`, claimed by deleting it in one statement (app/services/studies/slots.py: FOR UPDATE SKIP
LOCKED on PostgreSQL, one atomic statement on SQLite); the assignment inserted next holds it.
Two unique constraints on assignments stay the last word: (study, item_key, slot) — no item gets
more live assignments than raters — and (study, annotator, item_key) — no annotator gets the
same item twice (an insert that conflicts does nothing and the slot goes back). An expired,
unanswered assignment releases its slot (item_key and slot set to NULL, the row re-inserted)
with a conditional UPDATE that a concurrent vote on the same row serialises against (see
votes.record_vote), so a slot is never both released and answered.

`answer_and_continue` is the vote path: the vote, the next task and the progress bar in one
short transaction of three statements in the steady state on PostgreSQL (six on SQLite),
whatever the study's size.

Attention checks hold no slot: a degraded copy against its clean source, or an answered item
shown again (a pair with the sides swapped). The clean source is a real image of the study's
reference set when it has one, otherwise an image the study's own votes rank well, so that only
inattention makes the degraded copy look better (see leaderboard_human.check_outcome).

No annotator casts more than `max_vote_share` of the study's planned votes (items x raters).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.media import MediaStore
from app.models import (
    Annotator,
    AnnotatorSession,
    Assignment,
    Image,
    ImageToken,
    Prompt,
    Rendition,
    Study,
    Vote,
    new_public_id,
    utcnow,
)
from app.models.enums import CheckKind, StudyKind, StudyStatus
from app.services.studies import pair_policy, slots
from app.services.studies.aspects import primary_votes
from app.services.studies.checks import check_image_for
from app.services.studies.hot_path import attach, bind_key
from app.services.studies.renditions import CLEAN
from app.services.studies.study import Item
from app.services.studies.task_images import (
    insert_shown,
    issue_tokens,
    rendition_id,
    revoke_tokens,
    side_variant,
)

DEFAULT_TTL_SECONDS = 600
MAX_RESERVATION_ATTEMPTS = 25
REPEAT_SHARE = 1 / 3  # of attention checks, when the annotator has an item to repeat
MIRRORED = {"left": "right", "right": "left", "tie": "tie", "both_bad": "both_bad"}
# How stale the active policy's vote tallies may be on the vote path (a sampling heuristic's
# input; results never use them), and how long the clean sources of checks are kept.
ACTIVE_REFRESH_SECONDS = 1.0
CHECK_SOURCE_SECONDS = 60.0

_CHECK_LOCK = threading.Lock()
_CHECK_SOURCES: dict[tuple, tuple[float, list]] = {}
_CHECK_IMAGES: dict[tuple, int] = {}
_SPENT_PAIRS: dict[tuple, set[tuple[int, int]]] = {}


_RNG = threading.local()


def _thread_rng() -> np.random.Generator:
    """This thread's generator, seeded from the OS once (a Generator is not thread-safe, and
    seeding one per task cost more than the draws it made)."""
    rng = getattr(_RNG, "generator", None)
    if rng is None:
        rng = _RNG.generator = np.random.default_rng()
    return rng


def release_expired(session: Session, study: Study, now: datetime) -> int:
    """Give back the slots of expired, unanswered assignments. Returns how many were released."""
    return slots.release_expired(session, study, now)


def task_cap(study: Study, n_items: int) -> int:
    """The most real items one annotator may answer: `max_tasks_per_annotator` and the vote-share
    cap, max_vote_share x items x raters_per_item (rounded up, at least one)."""
    share_cap = max(1, math.ceil(study.max_vote_share * n_items * study.raters_per_item - 1e-9))
    if study.max_tasks_per_annotator is not None:
        return min(study.max_tasks_per_annotator, share_cap)
    return share_cap


def _target(
    study: Study, n_items: int, answered: int, answered_real: int, has_task: bool, open_left: bool
) -> int:
    """The progress bar's end: what they answered plus an upper bound of what is still open to
    them (items they have not answered, within their cap); exact once nothing is left."""
    remaining = 0
    if open_left:
        remaining = max(0, min(task_cap(study, n_items), n_items) - answered_real)
    if has_task:
        remaining = max(remaining, 1)
    return answered + remaining


def progress(
    session: Session, annotator: Annotator, *, now: datetime | None = None
) -> tuple[int, int]:
    """(answered, target) for the progress bar, from the annotator's maintained counters."""
    now = now or utcnow()
    study = session.get(Study, annotator.study_id)
    pool = slots.study_pool(session, study)
    has_task = current_assignment(session, annotator, now) is not None
    open_left = study.status == StudyStatus.open and slots.has_free_slot(
        session, study, annotator.id
    )
    answered, real = annotator.n_answered, annotator.n_answered_real
    return answered, _target(study, len(pool.items), answered, real, has_task, open_left)


def progress_with(
    session: Session, study: Study, annotator: Annotator, task: Assignment | None
) -> tuple[int, int]:
    """(answered, target) right after `task` was handed out (None: nothing is left for them)."""
    pool = slots.study_pool(session, study)
    answered, real = annotator.n_answered, annotator.n_answered_real
    has_task = task is not None
    return answered, _target(study, len(pool.items), answered, real, has_task, has_task)


def current_assignment(session: Session, annotator: Annotator, now: datetime) -> Assignment | None:
    return session.scalar(
        select(Assignment)
        .where(
            Assignment.annotator_id == annotator.id,
            Assignment.answered_at.is_(None),
            Assignment.expires_at > now,
            (Assignment.item_key.is_not(None)) | (Assignment.check_kind.is_not(None)),
        )
        .order_by(Assignment.issued_at, Assignment.id)
        .limit(1)
    )


def next_assignment(
    session: Session,
    annotator: Annotator,
    *,
    now: datetime | None = None,
    rng: np.random.Generator | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> Assignment | None:
    """The annotator's current task, or a new one; None when nothing is left for them."""
    now = now or utcnow()
    study = session.get(Study, annotator.study_id)
    if study.status != StudyStatus.open:
        raise Conflict(f"this study is {study.status}: it accepts no answers")
    current = current_assignment(session, annotator, now)
    if current is not None:
        return current
    return claim_next(
        session,
        study,
        annotator,
        answered_real=annotator.n_answered_real,
        now=now,
        rng=rng,
        ttl_seconds=ttl_seconds,
    )


def claim_next(
    session: Session, study: Study, annotator: Annotator, **options: Any
) -> Assignment | None:
    """A new task for the annotator (a real item or an attention check), or None (`options`:
    answered_real, now, rng, ttl_seconds, pool; see `_claim_next`).

    Steady state: one statement to claim a slot and one to insert the assignment."""
    found = _claim_next(session, study, annotator, **options)
    return found[0] if found is not None else None


def claim_shown(
    session: Session,
    store: MediaStore,
    study: Study,
    annotator: Annotator,
    viewer: AnnotatorSession,
    **options: Any,
) -> tuple[Assignment, TaskView] | None:
    """A new task, as claim_next (`options`: its keyword arguments), and its view for `viewer`
    with fresh image tokens. Steady state on PostgreSQL: two statements (claim a slot; insert
    the assignment with its tokens), where claim_next and task_view take three."""
    found = _claim_next(session, study, annotator, shown_to=(store, viewer), **options)
    if found is None:
        return None
    assignment, tokens = found
    if tokens is None:  # an attention check: shown as any task is
        return assignment, task_view(session, store, assignment, viewer, study=study, fresh=True)
    return assignment, view_with_tokens(session, study, assignment, tokens)


def _claim_next(
    session: Session,
    study: Study,
    annotator: Annotator,
    *,
    answered_real: int,
    now: datetime,
    rng: np.random.Generator | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    pool: slots.StudyPool | None = None,
    shown_to: tuple[MediaStore, AnnotatorSession] | None = None,
) -> tuple[Assignment, dict[str, str] | None] | None:
    """(the new task, its image tokens when `shown_to` and issued with it), or None."""
    rng = rng if rng is not None else _thread_rng()
    slots.ensure_slots(session, study)
    pool = pool or slots.study_pool(session, study)
    if not pool.items or answered_real >= task_cap(study, len(pool.items)):
        return None
    expires = now + timedelta(seconds=ttl_seconds)
    if slots.sweep_due(session, study):
        slots.release_expired(session, study, now)
    if answered_real > 0 and rng.random() < study.attention_check_rate:
        check = _attention_check(session, study, annotator, pool, rng, now, expires)
        if check is not None:
            return check, None
    swept = False
    for _attempt in range(MAX_RESERVATION_ATTEMPTS):
        claimed = _claim(session, study, annotator, pool, rng)
        if claimed is None:
            # Nobody is told "done" while an expired claim could give them an item.
            if swept or not slots.release_expired(session, study, now):
                return None
            swept = True
            continue
        made = _reserve(session, study, annotator, pool, claimed, rng, now, expires, shown_to)
        if made is not None:
            return made
    raise Conflict("the study is busy: too many annotators asked for the same items; reload")


def _claim(
    session: Session,
    study: Study,
    annotator: Annotator,
    pool: slots.StudyPool,
    rng: np.random.Generator,
) -> slots.ClaimedSlot | None:
    """A free slot of the pair the study's policy picks (pairwise), else the first free slot in
    the study's order."""
    if study.kind != StudyKind.pairwise or not pool.pairs:
        return slots.claim_slot(session, study, annotator.id)
    key = (bind_key(session), study.id, study.created_at, pool.version, annotator.id)
    with _CHECK_LOCK:
        spent = _SPENT_PAIRS.get(key, set())
    candidates = [pair for pair in pool.pairs if pair not in spent] or list(pool.pairs)
    chosen = pair_policy.choose_pair(
        session,
        study,
        candidates,
        rng,
        generator_ids=pool.generator_ids,
        max_age=ACTIVE_REFRESH_SECONDS,
    )
    pair = (min(chosen), max(chosen))
    if pair not in candidates:
        raise ValueError(f"the pair policy returned {chosen}, which is not one of the candidates")
    gens = (pool.generator_ids[pair[0]], pool.generator_ids[pair[1]])
    claimed = slots.claim_slot(session, study, annotator.id, gens)
    if claimed is not None:
        return claimed
    # Nothing of this pair is left for them: remember it (one wasted statement per pair and
    # annotator) and take the next free slot of any pair.
    with _CHECK_LOCK:
        _SPENT_PAIRS.setdefault(key, set()).add(pair)
        while len(_SPENT_PAIRS) > 10_000:
            _SPENT_PAIRS.pop(next(iter(_SPENT_PAIRS)))
    return slots.claim_slot(session, study, annotator.id)


def _reserve(
    session: Session,
    study: Study,
    annotator: Annotator,
    pool: slots.StudyPool,
    claimed: slots.ClaimedSlot,
    rng: np.random.Generator,
    now: datetime,
    expires: datetime,
    shown_to: tuple[MediaStore, AnnotatorSession] | None = None,
) -> tuple[Assignment, dict[str, str] | None] | None:
    """The assignment holding a claimed slot (one INSERT), or None when it cannot be made;
    with its image tokens for `shown_to` ({side: token}) issued in the same statement."""
    item = pool.items.get(claimed.item_key)
    if item is None:  # no longer in the pool: the slot is dropped
        return None
    values = {
        "public_id": new_public_id(),
        "study_id": study.id,
        "annotator_id": annotator.id,
        "prompt_id": item.prompt_id,
        "item_key": item.key,
        "slot": claimed.slot,
        "issued_at": now,
        "expires_at": expires,
    }
    if study.kind == StudyKind.pairwise:
        image_a, image_b = _images_for_slot(pool, item, claimed.slot)
        sides = [(image_a, item.gen_a), (image_b, item.gen_b)]
        if rng.random() < 0.5:  # sides drawn server-side, per assignment
            sides.reverse()
        (values["image_left_id"], values["generator_left_id"]) = sides[0]
        (values["image_right_id"], values["generator_right_id"]) = sides[1]
    else:
        values["image_id"], values["generator_id"] = item.image_a, item.gen_a
    if shown_to is None:
        assignment, tokens = slots.insert_assignment(session, values), None
    else:
        store, viewer = shown_to
        shown = {
            side: (secrets.token_urlsafe(24), rendition_id(session, store, study, image, CLEAN))
            for side, image in (
                ("left", values.get("image_left_id")),
                ("right", values.get("image_right_id")),
                ("single", values.get("image_id")),
            )
            if image is not None
        }
        assignment = insert_shown(session, values, viewer, shown)
        tokens = {side: token for side, (token, _rendition) in shown.items()}
    if assignment is not None:
        return assignment, tokens
    # The annotator took this item in another tab at the same moment (give the slot back), or
    # the slot is already held (a duplicate made by a concurrent sync: drop it).
    held = session.scalar(
        select(Assignment.id).where(
            Assignment.study_id == study.id,
            Assignment.item_key == claimed.item_key,
            Assignment.slot == claimed.slot,
        )
    )
    if held is None:
        slots.return_slot(session, study, claimed)
    return None


def _images_for_slot(pool: slots.StudyPool, item: Item, slot: int) -> tuple[int, int]:
    """One image of each generator for the item's prompt. Slot k of an item shows the images
    k steps (plus an offset from the other generator) along each generator's list, so a
    generator's images for a prompt take turns across its items and slots: every uploaded
    image is judged, and they are judged equally often."""
    index = pool.index

    def pick(images: tuple[int, ...], fallback: int, other: int | None) -> int:
        if len(images) <= 1:
            return fallback
        return images[(slot + index.get(other, 0)) % len(images)]

    return pick(item.images_a, item.image_a, item.gen_b), pick(
        item.images_b, item.image_b, item.gen_a
    )


def _check_source(
    session: Session, study: Study, pool: slots.StudyPool, rng: np.random.Generator
) -> tuple[int, int | None, int | None] | None:
    """(image, generator, prompt) whose degraded copy makes a check: a reference image when the
    study has a reference set, else one of the images the study's votes rank best. Both lists
    are kept per study for CHECK_SOURCE_SECONDS (they change slowly; reading every vote per
    check would grow with the study)."""
    key = (bind_key(session), study.id, study.created_at, study.reference_set_id)
    with _CHECK_LOCK:
        cached = _CHECK_SOURCES.get(key)
    if cached is None or time.monotonic() - cached[0] > CHECK_SOURCE_SECONDS:
        cached = (time.monotonic(), _check_sources(session, study, pool))
        with _CHECK_LOCK:
            _CHECK_SOURCES[key] = cached
    sources = cached[1]
    if not sources:
        return None
    return sources[int(rng.integers(len(sources)))]


def _check_sources(
    session: Session, study: Study, pool: slots.StudyPool
) -> list[tuple[int, int | None, int | None]]:
    if study.reference_set_id is not None:
        ids = session.execute(
            select(Image.id, Image.prompt_id).where(
                Image.reference_set_id == study.reference_set_id
            )
        ).all()
        if ids:
            return [(image_id, None, prompt_id) for image_id, prompt_id in ids]
    rows = {}
    for item in pool.items.values():
        for image in item.images_a or (item.image_a,):
            rows[image] = (image, item.gen_a, item.prompt_id)
        for image in item.images_b or ((item.image_b,) if item.image_b else ()):
            rows[image] = (image, item.gen_b, item.prompt_id)
    pool_rows = [
        row
        for row in sorted(rows.values())
        if study.kind != StudyKind.pairwise or row[2] is not None
    ]
    if not pool_rows:
        return []
    score = _image_scores(session, study)
    # The top quarter by a smoothed score (unvoted images sit at the prior and tie).
    ranked = sorted(pool_rows, key=lambda row: -score.get(row[0], 0.5))
    cut = score.get(ranked[max(0, len(ranked) // 4 - 1)][0], 0.5)
    return [row for row in ranked if score.get(row[0], 0.5) >= cut]


def _image_scores(session: Session, study: Study) -> dict[int, float]:
    """Per image, a 0-1 score from the study's votes on real items, smoothed towards 0.5:
    (wins + 1) / (shown + 2) for pairwise, (mean rating - 1) / 4 and 1 - flag rate otherwise,
    each shrunk by one pseudo-vote."""
    votes = (
        select(
            Assignment.image_left_id,
            Assignment.image_right_id,
            Assignment.image_id,
            Vote.choice,
            Vote.rating,
            Vote.flags,
        )
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(
            Assignment.study_id == study.id, Assignment.check_kind.is_(None), primary_votes(study)
        )
    )
    hits: Counter = Counter()
    shown: Counter = Counter()
    for left, right, single, choice, rating, flags in session.execute(votes):
        if study.kind == StudyKind.pairwise:
            for side, image in (("left", left), ("right", right)):
                shown[image] += 1
                hits[image] += 1.0 if choice == side else 0.5 if choice == "tie" else 0.0
        elif study.kind == StudyKind.rating and rating is not None:
            shown[single] += 1
            hits[single] += (rating - 1) / 4
        elif flags is not None:
            shown[single] += 1
            hits[single] += 0.0 if flags else 1.0
    return {image: (hits[image] + 1) / (n + 2) for image, n in shown.items()}


def _attention_check(
    session: Session,
    study: Study,
    annotator: Annotator,
    pool: slots.StudyPool,
    rng: np.random.Generator,
    now: datetime,
    expires: datetime,
) -> Assignment | None:
    # Two degraded checks per repeat: a degraded copy tells attention from inattention; a repeat
    # of a close pair is answered differently by honest people too (it measures consistency).
    kind = CheckKind.repeat if rng.random() < REPEAT_SHARE else CheckKind.degraded
    values = {
        "public_id": new_public_id(),
        "study_id": study.id,
        "annotator_id": annotator.id,
        "check_kind": kind,
        "issued_at": now,
        "expires_at": expires,
    }
    repeatable = []
    if kind == CheckKind.repeat:
        repeated = select(Assignment.repeat_of_id).where(
            Assignment.annotator_id == annotator.id,
            Assignment.repeat_of_id.is_not(None),
        )
        repeatable = list(
            session.execute(
                select(
                    Assignment.id,
                    Assignment.prompt_id,
                    Assignment.image_left_id,
                    Assignment.image_right_id,
                    Assignment.generator_left_id,
                    Assignment.generator_right_id,
                    Assignment.image_id,
                    Assignment.generator_id,
                    Vote.choice,
                )
                .join(Vote, Vote.assignment_id == Assignment.id)
                .where(
                    Assignment.annotator_id == annotator.id,
                    Assignment.check_kind.is_(None),
                    Assignment.id.not_in(repeated),
                    primary_votes(study),
                )
                .order_by(Assignment.id)
            ).all()
        )
        if not repeatable:
            kind = values["check_kind"] = CheckKind.degraded
    if kind == CheckKind.repeat:
        original = repeatable[int(rng.integers(len(repeatable)))]
        values["repeat_of_id"] = original.id
        values["prompt_id"] = original.prompt_id
        if study.kind == StudyKind.pairwise:
            values["image_left_id"] = original.image_right_id
            values["image_right_id"] = original.image_left_id
            values["generator_left_id"] = original.generator_right_id
            values["generator_right_id"] = original.generator_left_id
            values["expected_choice"] = MIRRORED[original.choice]
        else:
            values["image_id"], values["generator_id"] = original.image_id, original.generator_id
    else:
        source = _check_source(session, study, pool, rng)
        if source is None:
            return None
        image_id, generator_id, prompt_id = source
        values["check_image_id"] = check_image_id(session, study, image_id)
        values["prompt_id"] = prompt_id
        if study.kind == StudyKind.pairwise:
            degraded = "left" if rng.random() < 0.5 else "right"
            values["degraded_side"] = degraded
            values["image_left_id"] = values["image_right_id"] = image_id
            # The degraded side names no generator: it is nobody's output (nor is a real image).
            values["generator_left_id" if degraded == "right" else "generator_right_id"] = (
                generator_id
            )
            values["expected_choice"] = MIRRORED[degraded]
        else:
            values["degraded_side"] = "single"
            values["image_id"] = image_id
    statement = insert(Assignment).returning(Assignment)
    return session.scalars(statement, [values]).one()


def check_image_id(session: Session, study: Study, source_image_id: int) -> int:
    """The id of an image's degraded copy (rows never change: cached per process and study)."""
    key = (bind_key(session), study.id, study.created_at, source_image_id)
    with _CHECK_LOCK:
        cached = _CHECK_IMAGES.get(key)
    if cached is not None:
        return cached
    row = check_image_for(session, source_image_id)
    with _CHECK_LOCK:
        _CHECK_IMAGES[key] = row.id
    return row.id


@dataclass(frozen=True)
class TaskView:
    """Everything an annotator may see about a task: per-showing image tokens and text, never
    a generator or a stable image id (app/services/studies/task_images.py)."""

    assignment_id: str
    kind: str
    question: str
    prompt: str | None
    left_image: str | None = None
    right_image: str | None = None
    image: str | None = None
    flag_options: tuple[str, ...] = ()
    # The study's display box: every image of the task is exactly this size.
    width: int = 0
    height: int = 0


def task_view(
    session: Session,
    store: MediaStore,
    assignment: Assignment,
    viewer: AnnotatorSession,
    *,
    study: Study | None = None,
    fresh: bool = False,
) -> TaskView:
    """The task as this annotator session sees it; every call issues fresh image tokens (one
    INSERT). `fresh`: the assignment was just made, so it has no earlier tokens to revoke."""
    study = study or session.get(Study, assignment.study_id)
    if not fresh:
        revoke_tokens(session, assignment, viewer)
    shown = {
        side: (image_id, side_variant(assignment, side))
        for side, image_id in _sides(assignment)
        if image_id is not None
    }
    tokens = issue_tokens(session, store, study, assignment, viewer, shown)
    return view_with_tokens(session, study, assignment, tokens)


def _sides(assignment: Assignment) -> tuple[tuple[str, int | None], ...]:
    return (
        ("left", assignment.image_left_id),
        ("right", assignment.image_right_id),
        ("single", assignment.image_id),
    )


def view_with_tokens(
    session: Session, study: Study, assignment: Assignment, tokens: dict[str, str]
) -> TaskView:
    """The task's view with image tokens already issued ({side: token})."""
    pool = slots.study_pool(session, study)
    prompt = None
    if assignment.prompt_id is not None:
        prompt = pool.prompts.get(assignment.prompt_id)
        if prompt is None:  # a reference image's prompt, outside the pool
            row = session.get(Prompt, assignment.prompt_id)
            prompt = row.text if row else None
    return TaskView(
        assignment_id=assignment.public_id,
        kind=study.kind,
        question=study.question,
        prompt=prompt,
        left_image=tokens.get("left"),
        right_image=tokens.get("right"),
        image=tokens.get("single"),
        flag_options=tuple(study.flag_options) if study.kind == StudyKind.flag else (),
        width=study.display_width or 0,
        height=study.display_height or 0,
    )


def tokens_by_side(assignment: Assignment, shown: list[tuple[str, int, str]]) -> dict[str, str]:
    """{side: token} from a showing's tokens as (token, image id, variant) rows."""
    left = list(shown)
    tokens = {}
    for side, image_id in _sides(assignment):
        if image_id is None:
            continue
        variant = side_variant(assignment, side)
        for row in left:
            if row[1] == image_id and row[2] == variant:
                tokens[side] = row[0]
                left.remove(row)
                break
    return tokens


# The task page holds one task ahead: claimed while the current task is on screen, with its image
# tokens issued, so the page preloads its images; the vote's response shows it (same tokens: the
# images come from the browser's cache) and claims the next one ahead. A task ahead is an ordinary
# open assignment (a slot towards k raters, never an item the annotator held, released on expiry),
# with twice the TTL because its time on screen starts later; the oldest open assignment is the
# one on screen, so a reload shows the same task. Its tokens stay the same until it is shown.
AHEAD_TTL_FACTOR = 2

# The view of each task held ahead, kept by the process that claimed it, so the answer that shows
# it costs no statement (a browser's keep-alive connection stays with one server process); any
# other process reads it back with one look-up. Entries are taken once; the oldest go first.
_HELD_VIEWS: OrderedDict[tuple, tuple[int, dict, TaskView]] = OrderedDict()
_HELD_LOCK = threading.Lock()
HELD_VIEWS_MAX = 20_000


@dataclass(frozen=True)
class Ahead:
    assignment: Assignment
    task: TaskView


def _held_key(session: Session, public_id: str) -> tuple:
    return (bind_key(session), public_id)


def forget_ahead(session: Session, public_id: str) -> None:
    """Drop what this process remembers of a task held ahead (it was given back)."""
    with _HELD_LOCK:
        _HELD_VIEWS.pop(_held_key(session, public_id), None)


def _remember(session: Session, viewer: AnnotatorSession, ahead: Ahead) -> None:
    row = ahead.assignment
    values = {c.key: getattr(row, c.key) for c in Assignment.__mapper__.column_attrs}
    with _HELD_LOCK:
        _HELD_VIEWS[_held_key(session, row.public_id)] = (viewer.id, values, ahead.task)
        while len(_HELD_VIEWS) > HELD_VIEWS_MAX:
            _HELD_VIEWS.popitem(last=False)


def _recalled(
    session: Session, annotator: Annotator, viewer: AnnotatorSession, public_id: str, now
) -> Ahead | None:
    """The task held ahead as this process remembers it (no statement), if still open."""
    with _HELD_LOCK:
        found = _HELD_VIEWS.pop(_held_key(session, public_id), None)
    if found is None:
        return None
    viewer_id, values, view = found
    if viewer_id != viewer.id or values["annotator_id"] != annotator.id:
        return None
    if values["expires_at"] <= now:
        return None
    row = session.identity_map.get(Session.identity_key(Assignment, values["id"]))
    if row is None:
        row = attach(session, Assignment, values)  # as loaded: no statement
    return Ahead(row, view)


def _ahead_rows(session: Session, viewer: AnnotatorSession, *conditions) -> Ahead | None:
    """The first open assignment matching `conditions`, with this session's tokens for it."""
    rows = session.execute(
        select(Assignment, ImageToken.token, Rendition.image_id, Rendition.variant)
        .outerjoin(
            ImageToken,
            (ImageToken.assignment_id == Assignment.id) & (ImageToken.session_id == viewer.id),
        )
        .outerjoin(Rendition, Rendition.id == ImageToken.rendition_id)
        .where(
            Assignment.answered_at.is_(None),
            Assignment.item_key.is_not(None) | Assignment.check_kind.is_not(None),
            *conditions,
        )
        .order_by(Assignment.issued_at, Assignment.id)
        .limit(3)  # one assignment: at most its two images' tokens
    ).all()
    if not rows:
        return None
    assignment = rows[0][0]
    shown = [(t, image, variant) for a, t, image, variant in rows if a is assignment and t]
    return assignment, tokens_by_side(assignment, shown)


def held_ahead(
    session: Session,
    study: Study,
    annotator: Annotator,
    viewer: AnnotatorSession,
    public_id: str,
    now: datetime,
) -> Ahead | None:
    """The task held ahead for this session, still open, with the tokens its page preloaded (no
    statement in the process that claimed it, else one); None when it is not (expired,
    released, not theirs)."""
    recalled = _recalled(session, annotator, viewer, public_id, now)
    if recalled is not None:
        return recalled
    found = _ahead_rows(
        session,
        viewer,
        Assignment.public_id == public_id,
        Assignment.study_id == study.id,
        Assignment.annotator_id == annotator.id,
        Assignment.expires_at > now,
    )
    if found is None or not found[1]:
        return None
    assignment, tokens = found
    return Ahead(assignment, view_with_tokens(session, study, assignment, tokens))


def claim_ahead(
    session: Session,
    store: MediaStore,
    study: Study,
    annotator: Annotator,
    viewer: AnnotatorSession,
    *,
    now: datetime,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    rng: np.random.Generator | None = None,
    pool: slots.StudyPool | None = None,
) -> Ahead | None:
    """Claim the task after the one on screen (counted against the task cap as if the one on
    screen were a real item) and issue its tokens; None when nothing is left for them."""
    claimed = claim_shown(
        session,
        store,
        study,
        annotator,
        viewer,
        answered_real=annotator.n_answered_real + 1,
        now=now,
        rng=rng,
        ttl_seconds=ttl_seconds * AHEAD_TTL_FACTOR,
        pool=pool,
    )
    if claimed is None:
        return None
    ahead = Ahead(*claimed)
    _remember(session, viewer, ahead)
    return ahead


def page_ahead(
    session: Session,
    store: MediaStore,
    study: Study,
    annotator: Annotator,
    viewer: AnnotatorSession,
    current: Assignment,
    *,
    now: datetime | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> Ahead | None:
    """The task ahead of `current` for a page load: one they already hold (with the tokens
    this session was given for it, or new ones for a new session), else a new claim."""
    now = now or utcnow()
    found = _ahead_rows(
        session,
        viewer,
        Assignment.annotator_id == annotator.id,
        Assignment.id != current.id,
        Assignment.expires_at > now,
    )
    if found is None:
        return claim_ahead(
            session, store, study, annotator, viewer, now=now, ttl_seconds=ttl_seconds
        )
    assignment, tokens = found
    if tokens:
        ahead = Ahead(assignment, view_with_tokens(session, study, assignment, tokens))
    else:
        view = task_view(session, store, assignment, viewer, study=study, fresh=True)
        ahead = Ahead(assignment, view)
    _remember(session, viewer, ahead)
    return ahead


@dataclass(frozen=True)
class NextStep:
    """What the vote path answers: the stored vote, the next task (None: nothing left) and the
    progress bar."""

    vote: Vote  # the task's first aspect's vote (see `votes`)
    assignment: Assignment | None
    task: TaskView | None
    answered: int
    target: int
    ahead: Ahead | None = None  # the task now held ahead of `task` (its images preloaded)
    votes: list[Vote] = field(default_factory=list)  # every aspect's vote (or the one)


def answer_and_continue(
    session: Session,
    store: MediaStore,
    study: Study,
    annotator: Annotator,
    viewer: AnnotatorSession | None,
    assignment_public_id: str,
    *,
    choice: str | None = None,
    rating: int | str | None = None,
    flags: list[str] | None = None,
    aspects: dict[str, Any] | None = None,
    client_ms: int | None = None,
    now: datetime | None = None,
    rng: np.random.Generator | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ahead: str | None = None,
    claim_ahead_room: bool = False,
) -> NextStep:
    """Record the vote, claim the next task, compute progress: one short transaction (the caller
    commits) of few statements in the steady state, whatever the study's size — mark the
    assignment answered, insert the vote, count it on the annotator (one statement on
    PostgreSQL), claim a slot, insert the next assignment and its image tokens (one statement
    on PostgreSQL; `viewer` None: no task view, no tokens): three on PostgreSQL, six on SQLite.

    `ahead`: the task the page holds ahead (its images preloaded). While it is still open it is
    the next task, shown with the tokens already issued (one statement), and, when
    `claim_ahead_room` (the session's total leaves room for it), the task after it is claimed
    ahead in its place (the statements of a claim).

    A re-sent answer settles like votes.submit_vote (the same answer: the stored vote; another:
    409) and the annotator's current task is shown again."""
    from app.services.studies.votes import record_vote

    now = now or utcnow()
    outcome = record_vote(
        session,
        study,
        annotator,
        assignment_public_id,
        choice=choice,
        rating=rating,
        flags=flags,
        aspects=aspects,
        client_ms=client_ms,
        now=now,
    )
    pool = slots.study_pool(session, study)
    held = None
    if outcome.created and ahead and ahead != assignment_public_id and viewer is not None:
        held = held_ahead(session, study, annotator, viewer, ahead, now)
    if held is not None:
        # The page already holds the next task and its images: show it, claim the one after.
        next_ahead = None
        if claim_ahead_room:
            next_ahead = claim_ahead(
                session,
                store,
                study,
                annotator,
                viewer,
                now=now,
                ttl_seconds=ttl_seconds,
                rng=rng,
                pool=pool,
            )
        answered, target = progress_with(session, study, annotator, held.assignment)
        return NextStep(
            outcome.vote, held.assignment, held.task, answered, target, next_ahead, outcome.votes
        )
    task = None
    if outcome.created:
        options = {
            "answered_real": annotator.n_answered_real,
            "now": now,
            "rng": rng,
            "ttl_seconds": ttl_seconds,
            "pool": pool,
        }
        if viewer is not None:
            claimed = claim_shown(session, store, study, annotator, viewer, **options)
            assignment, task = claimed if claimed is not None else (None, None)
        else:
            assignment = claim_next(session, study, annotator, **options)
    else:
        assignment = next_assignment(session, annotator, now=now, rng=rng, ttl_seconds=ttl_seconds)
        if assignment is not None and viewer is not None:
            task = task_view(session, store, assignment, viewer, study=study)
    answered, target = progress_with(session, study, annotator, assignment)
    return NextStep(outcome.vote, assignment, task, answered, target, votes=outcome.votes)
