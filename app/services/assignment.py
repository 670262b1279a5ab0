"""Handing out tasks: the next item for an annotator, race-free on PostgreSQL and SQLite.

A task for a real item holds one of the item's `raters_per_item` slots. The slot is reserved by
inserting the assignment row; two unique constraints decide every race in the database:
(study, item_key, slot) — no item gets more live assignments than raters — and
(study, annotator, item_key) — no annotator gets the same item twice. A losing insert rolls back
its savepoint and the choice is made again. An expired, unanswered assignment releases its slot
(item_key and slot set to NULL) with a conditional UPDATE that a concurrent vote on the same
row serialises against (see votes.submit_vote), so a slot is never both released and answered.

Attention checks hold no slot: a degraded copy against its clean source, or an answered item
shown again (a pair with the sides swapped). The clean source is a real image of the study's
reference set when it has one, otherwise an image the study's own votes rank well, so that only
inattention makes the degraded copy look better (see leaderboard_human.check_outcome).

No annotator casts more than `max_vote_share` of the study's planned votes (items x raters).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.media import MediaStore
from app.models import (
    Annotator,
    AnnotatorSession,
    Assignment,
    Image,
    Prompt,
    Study,
    Vote,
    utcnow,
)
from app.services import pair_policy
from app.services.checks import check_image_for
from app.services.studies import Item, study_images, study_items
from app.services.task_images import issue_token, revoke_tokens, side_variant

DEFAULT_TTL_SECONDS = 600
MAX_RESERVATION_ATTEMPTS = 25
REPEAT_SHARE = 1 / 3  # of attention checks, when the annotator has an item to repeat
MIRRORED = {"left": "right", "right": "left", "tie": "tie", "both_bad": "both_bad"}


def release_expired(session: Session, study: Study, now: datetime) -> int:
    """Give back the slots of expired, unanswered assignments. Returns how many were released."""
    # SKIP LOCKED: a row locked by an in-flight vote is left alone (that vote decides its fate);
    # concurrent releasers never wait on each other or deadlock.
    ids = list(
        session.scalars(
            select(Assignment.id)
            .where(
                Assignment.study_id == study.id,
                Assignment.answered_at.is_(None),
                Assignment.item_key.is_not(None),
                Assignment.expires_at <= now,
            )
            .order_by(Assignment.id)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return 0
    result = session.execute(
        update(Assignment)
        .where(
            Assignment.id.in_(ids),
            Assignment.answered_at.is_(None),
            Assignment.expires_at <= now,
        )
        .values(item_key=None, slot=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass
class OpenItems:
    items: dict[str, Item]
    available: list[Item]  # items this annotator may still be given
    held: int  # this annotator's live, unanswered assignments on real items


def _open_items(session: Session, study: Study, annotator: Annotator, now: datetime) -> OpenItems:
    items = study_items(session, study)
    live = session.execute(
        select(Assignment.item_key, Assignment.annotator_id, Assignment.answered_at).where(
            Assignment.study_id == study.id, Assignment.item_key.is_not(None)
        )
    ).all()
    taken = Counter(key for key, _a, _t in live)
    mine = {key for key, owner, _t in live if owner == annotator.id}
    # Items this annotator could not judge went back to the pool, for other annotators only.
    mine.update(
        session.scalars(
            select(Assignment.skipped_item_key).where(
                Assignment.annotator_id == annotator.id,
                Assignment.skipped_item_key.is_not(None),
            )
        )
    )
    held = sum(1 for _k, owner, answered in live if owner == annotator.id and answered is None)
    available = [
        item
        for key, item in items.items()
        if key not in mine and taken[key] < study.raters_per_item
    ]
    return OpenItems(items, available, held)


def _answered_counts(session: Session, annotator: Annotator) -> tuple[int, int]:
    """(all votes, votes on real items) of this annotator."""
    rows = session.execute(
        select(Assignment.check_kind.is_(None), func.count())
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(Vote.annotator_id == annotator.id)
        .group_by(Assignment.check_kind.is_(None))
    ).all()
    total = sum(n for _real, n in rows)
    real = sum(n for is_real, n in rows if is_real)
    return total, real


def task_cap(study: Study, n_items: int) -> int:
    """The most real items one annotator may answer: `max_tasks_per_annotator` and the vote-share
    cap, max_vote_share x items x raters_per_item (rounded up, at least one)."""
    share_cap = max(1, math.ceil(study.max_vote_share * n_items * study.raters_per_item - 1e-9))
    if study.max_tasks_per_annotator is not None:
        return min(study.max_tasks_per_annotator, share_cap)
    return share_cap


def progress(
    session: Session, annotator: Annotator, *, now: datetime | None = None
) -> tuple[int, int]:
    """(answered, target) for the progress bar: target = answered + what is still open to them."""
    now = now or utcnow()
    study = session.get(Study, annotator.study_id)
    answered, answered_real = _answered_counts(session, annotator)
    state = _open_items(session, study, annotator, now)
    remaining = len(state.available) + state.held
    remaining = min(remaining, max(0, task_cap(study, len(state.items)) - answered_real))
    return answered, answered + remaining


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
    rng = rng if rng is not None else np.random.default_rng()
    study = session.get(Study, annotator.study_id)
    if study.status != "open":
        raise Conflict(f"this study is {study.status}: it accepts no answers")
    release_expired(session, study, now)
    current = current_assignment(session, annotator, now)
    if current is not None:
        return current
    expires = now + timedelta(seconds=ttl_seconds)
    for _attempt in range(MAX_RESERVATION_ATTEMPTS):
        state = _open_items(session, study, annotator, now)
        _answered, answered_real = _answered_counts(session, annotator)
        if not state.available or answered_real >= task_cap(study, len(state.items)):
            return None
        if answered_real > 0 and rng.random() < study.attention_check_rate:
            check = _attention_check(session, study, annotator, state, rng, now, expires)
            if check is not None:
                return check
        item = _pick_item(session, study, state.available, rng)
        assignment = _reserve(session, study, annotator, item, rng, now, expires)
        if assignment is not None:
            return assignment
    raise Conflict("the study is busy: too many annotators asked for the same items; reload")


def _pick_item(
    session: Session, study: Study, available: list[Item], rng: np.random.Generator
) -> Item:
    if study.kind != "pairwise":
        return available[int(rng.integers(len(available)))]
    index = {g.id: k for k, g in enumerate(sorted(study.generators, key=lambda g: g.id))}
    by_pair: dict[tuple[int, int], list[Item]] = defaultdict(list)
    for item in available:
        by_pair[(index[item.gen_a], index[item.gen_b])].append(item)
    candidates = sorted(by_pair)
    chosen = pair_policy.choose_pair(session, study, candidates, rng)
    pair = (min(chosen), max(chosen))
    if pair not in by_pair:
        raise ValueError(f"the pair policy returned {chosen}, which is not one of the candidates")
    options = by_pair[pair]
    return options[int(rng.integers(len(options)))]


def _reserve(
    session: Session,
    study: Study,
    annotator: Annotator,
    item: Item,
    rng: np.random.Generator,
    now: datetime,
    expires: datetime,
) -> Assignment | None:
    used = set(
        session.scalars(
            select(Assignment.slot).where(
                Assignment.study_id == study.id, Assignment.item_key == item.key
            )
        )
    )
    free = [s for s in range(study.raters_per_item) if s not in used]
    if not free:
        return None
    assignment = Assignment(
        study_id=study.id,
        annotator_id=annotator.id,
        prompt_id=item.prompt_id,
        item_key=item.key,
        slot=free[0],
        issued_at=now,
        expires_at=expires,
    )
    if study.kind == "pairwise":
        image_a, image_b = _least_shown(session, study, item, rng)
        sides = [(image_a, item.gen_a), (image_b, item.gen_b)]
        if rng.random() < 0.5:  # sides drawn server-side, per assignment
            sides.reverse()
        (assignment.image_left_id, assignment.generator_left_id) = sides[0]
        (assignment.image_right_id, assignment.generator_right_id) = sides[1]
    else:
        assignment.image_id, assignment.generator_id = item.image_a, item.gen_a
    try:
        with session.begin_nested():
            session.add(assignment)
            session.flush()
    except IntegrityError:
        # Another request took this slot (or this annotator took this item in another tab).
        return None
    return assignment


def _least_shown(
    session: Session, study: Study, item: Item, rng: np.random.Generator
) -> tuple[int, int]:
    """One image of each generator for the item's prompt: the one shown least often so far in
    this study's pairs (ties drawn at random), so a generator's images are used evenly."""
    if len(item.images_a) <= 1 and len(item.images_b) <= 1:
        return item.image_a, item.image_b
    shown: Counter = Counter()
    for left, right in session.execute(
        select(Assignment.image_left_id, Assignment.image_right_id).where(
            Assignment.study_id == study.id,
            Assignment.prompt_id == item.prompt_id,
            Assignment.check_kind.is_(None),
        )
    ):
        shown[left] += 1
        shown[right] += 1

    def pick(images: tuple[int, ...], fallback: int) -> int:
        if len(images) <= 1:
            return fallback
        fewest = min(shown[i] for i in images)
        options = [i for i in images if shown[i] == fewest]
        return options[int(rng.integers(len(options)))]

    return pick(item.images_a, item.image_a), pick(item.images_b, item.image_b)


def _check_source(
    session: Session, study: Study, rng: np.random.Generator
) -> tuple[int, int | None, int | None] | None:
    """(image, generator, prompt) whose degraded copy makes a check: a reference image when the
    study has a reference set, else one of the images the study's votes rank best."""
    if study.reference_set_id is not None:
        ids = session.execute(
            select(Image.id, Image.prompt_id).where(
                Image.reference_set_id == study.reference_set_id
            )
        ).all()
        if ids:
            image_id, prompt_id = ids[int(rng.integers(len(ids)))]
            return image_id, None, prompt_id
    pool = [row for row in study_images(session, study) if study.kind != "pairwise" or row[2]]
    if not pool:
        return None
    score = _image_scores(session, study)
    # The top quarter by a smoothed score (unvoted images sit at the prior and tie).
    ranked = sorted(pool, key=lambda row: -score.get(row[0], 0.5))
    cut = score.get(ranked[max(0, len(ranked) // 4 - 1)][0], 0.5)
    best = [row for row in ranked if score.get(row[0], 0.5) >= cut]
    return best[int(rng.integers(len(best)))]


def _image_scores(session: Session, study: Study) -> dict[int, float]:
    """Per image, a 0-1 score from the study's votes on real items, smoothed towards 0.5:
    (wins + 1) / (shown + 2) for pairwise, (mean rating - 1) / 4 and 1 - flag rate otherwise,
    each shrunk by one pseudo-vote."""
    votes = (
        select(Assignment, Vote)
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(Assignment.study_id == study.id, Assignment.check_kind.is_(None))
    )
    hits: Counter = Counter()
    shown: Counter = Counter()
    for assignment, vote in session.execute(votes):
        if study.kind == "pairwise":
            for side, image in (
                ("left", assignment.image_left_id),
                ("right", assignment.image_right_id),
            ):
                shown[image] += 1
                hits[image] += 1.0 if vote.choice == side else 0.5 if vote.choice == "tie" else 0.0
        elif study.kind == "rating" and vote.rating is not None:
            shown[assignment.image_id] += 1
            hits[assignment.image_id] += (vote.rating - 1) / 4
        elif vote.flags is not None:
            shown[assignment.image_id] += 1
            hits[assignment.image_id] += 0.0 if vote.flags else 1.0
    return {image: (hits[image] + 1) / (n + 2) for image, n in shown.items()}


def _attention_check(
    session: Session,
    study: Study,
    annotator: Annotator,
    state: OpenItems,
    rng: np.random.Generator,
    now: datetime,
    expires: datetime,
) -> Assignment | None:
    repeated = select(Assignment.repeat_of_id).where(
        Assignment.annotator_id == annotator.id,
        Assignment.repeat_of_id.is_not(None),
    )
    repeatable = list(
        session.execute(
            select(Assignment, Vote.choice)
            .join(Vote, Vote.assignment_id == Assignment.id)
            .where(
                Assignment.annotator_id == annotator.id,
                Assignment.check_kind.is_(None),
                Assignment.id.not_in(repeated),
            )
            .order_by(Assignment.id)
        ).all()
    )
    # Two degraded checks per repeat: a degraded copy tells attention from inattention; a repeat
    # of a close pair is answered differently by honest people too (it measures consistency).
    kind = "repeat" if repeatable and rng.random() < REPEAT_SHARE else "degraded"
    check = Assignment(
        study_id=study.id,
        annotator_id=annotator.id,
        check_kind=kind,
        issued_at=now,
        expires_at=expires,
    )
    if kind == "repeat":
        original, choice = repeatable[int(rng.integers(len(repeatable)))]
        check.repeat_of_id = original.id
        check.prompt_id = original.prompt_id
        if study.kind == "pairwise":
            check.image_left_id, check.image_right_id = (
                original.image_right_id,
                original.image_left_id,
            )
            check.generator_left_id = original.generator_right_id
            check.generator_right_id = original.generator_left_id
            check.expected_choice = MIRRORED[choice]
        else:
            check.image_id, check.generator_id = original.image_id, original.generator_id
    else:
        source = _check_source(session, study, rng)
        if source is None:
            return None
        image_id, generator_id, prompt_id = source
        check.check_image_id = check_image_for(session, image_id).id
        check.prompt_id = prompt_id
        if study.kind == "pairwise":
            degraded = "left" if rng.random() < 0.5 else "right"
            check.degraded_side = degraded
            check.image_left_id = check.image_right_id = image_id
            # The degraded side names no generator: it is nobody's output (nor is a real image).
            if degraded == "left":
                check.generator_right_id = generator_id
            else:
                check.generator_left_id = generator_id
            check.expected_choice = MIRRORED[degraded]
        else:
            check.degraded_side = "single"
            check.image_id = image_id
    session.add(check)
    session.flush()
    return check


@dataclass(frozen=True)
class TaskView:
    """Everything an annotator may see about a task: per-showing image tokens and text, never
    a generator or a stable image id (app/services/task_images.py)."""

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
    session: Session, store: MediaStore, assignment: Assignment, viewer: AnnotatorSession
) -> TaskView:
    """The task as this annotator session sees it; every call issues fresh image tokens."""
    study = session.get(Study, assignment.study_id)
    prompt = session.get(Prompt, assignment.prompt_id) if assignment.prompt_id else None
    revoke_tokens(session, assignment, viewer)

    def token(image_id: int | None, side: str) -> str | None:
        if image_id is None:
            return None
        variant = side_variant(assignment, side)
        return issue_token(session, store, assignment, viewer, image_id, variant)

    return TaskView(
        assignment_id=assignment.public_id,
        kind=study.kind,
        question=study.question,
        prompt=prompt.text if prompt else None,
        left_image=token(assignment.image_left_id, "left"),
        right_image=token(assignment.image_right_id, "right"),
        image=token(assignment.image_id, "single"),
        flag_options=tuple(study.flag_options) if study.kind == "flag" else (),
        width=study.display_width or 0,
        height=study.display_height or 0,
    )
