"""Open slots: the pool of tasks a study can still hand out, one indexed row per free slot.

An item needs `raters_per_item` answers from distinct annotators; each answer holds one of its
slots. A row of `study_slots` exists exactly while its slot is free: claiming a task deletes one
row in one statement (`DELETE … WHERE id = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING`
on PostgreSQL, where concurrent claimers skip each other's rows; on SQLite the one statement is
atomic under the database's single writer), and the new assignment then holds the slot
(assignments keep their unique (study, item_key, slot) and (study, annotator, item_key)
constraints as the last word). An expired, unanswered assignment gives its slot back: its
item_key and slot are cleared and the row is inserted again (`release_expired`). Nothing on the
vote path counts or scans the study: the cost of a claim depends on the few rows at the front
of the index, not on how many items or votes the study has.

The study's items and prompt texts are cached per process per pool version (`study_pool`):
`Study.items_version` is bumped whenever an image joins one of the study's generators (a
flush hook installed with the session factory), and the slots are made again for a new version
(`ensure_slots`) — never per request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, event, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history

from app import gc_tuning
from app.models import Assignment, Image, Prompt, Study, StudySlot, study_generators
from app.services.planner import analyze
from app.services.studies.hot_path import attach, bind_key, run
from app.services.studies.study import Item, study_items

# How often one process looks for expired claims of a study on the vote path (they are also
# looked for whenever a claim finds nothing, so nobody is told "done" while one is pending).
SWEEP_SECONDS = 5.0
INSERT_CHUNK = 5000


@dataclass(frozen=True)
class StudyPool:
    """A study's items at one pool version, with what a task view needs of them."""

    version: int
    items: dict[str, Item]
    prompts: dict[int, str]
    generator_ids: tuple[int, ...]  # sorted: the pair policy's generator indices
    pairs: tuple[tuple[int, int], ...] = field(default=())  # index pairs that have items

    @property
    def index(self) -> dict[int, int]:
        return {g: k for k, g in enumerate(self.generator_ids)}


_POOLS: OrderedDict[tuple, StudyPool] = OrderedDict()
_POOLS_SIZE = 64
_LOCK = threading.Lock()
_LAST_SWEEP: dict[tuple, float] = {}


def _study_key(session: Session, study: Study) -> tuple:
    # Creation times tell apart databases (test runs) that reuse ids.
    return (bind_key(session), study.id, study.created_at)


def study_pool(session: Session, study: Study) -> StudyPool:
    """The study's items at its current pool version (cached; read it, never change it)."""
    key = (*_study_key(session, study), study.items_version)
    with _LOCK:
        cached = _POOLS.get(key)
        if cached is not None:
            _POOLS.move_to_end(key)
            return cached
    items = study_items(session, study)
    prompt_ids = {item.prompt_id for item in items.values() if item.prompt_id is not None}
    prompts: dict[int, str] = {}
    if prompt_ids:
        generator_ids = [g.id for g in study.generators]
        prompts = dict(
            session.execute(
                select(Prompt.id, Prompt.text).where(
                    Prompt.id.in_(
                        select(Image.prompt_id).where(Image.generator_id.in_(generator_ids))
                    )
                )
            ).all()
        )
    gens = tuple(sorted(g.id for g in study.generators))
    index = {g: k for k, g in enumerate(gens)}
    pairs = sorted(
        {
            (index[item.gen_a], index[item.gen_b])
            for item in items.values()
            if item.gen_b is not None and item.gen_a in index and item.gen_b in index
        }
    )
    pool = StudyPool(study.items_version, items, prompts, gens, tuple(pairs))
    with _LOCK:
        _POOLS[key] = pool
        while len(_POOLS) > _POOLS_SIZE:
            _POOLS.popitem(last=False)
    gc_tuning.settle()  # kept for the process's life: out of the collector's scans
    return pool


def _position(study: Study, key: str) -> int:
    """A fixed pseudo-random place in the study's order, the same for all of an item's slots."""
    digest = hashlib.sha256(f"{study.public_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _slot_row(study: Study, item: Item, slot: int, position: int | None = None) -> dict:
    return {
        "study_id": study.id,
        "item_key": item.key,
        "slot": slot,
        "prompt_id": item.prompt_id,
        "gen_a": item.gen_a,
        "gen_b": item.gen_b,
        "position": _position(study, item.key) if position is None else position,
    }


def insert_ignoring_conflicts(session: Session, entity):
    """INSERT … ON CONFLICT DO NOTHING for the session's backend."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(entity).on_conflict_do_nothing()


# A new assignment, every column returned (the claim's second statement), built once per backend.
_NEW_ASSIGNMENT = {
    "postgresql": pg_insert(Assignment.__table__)
    .on_conflict_do_nothing()
    .returning(*Assignment.__table__.c),
    "sqlite": sqlite_insert(Assignment.__table__)
    .on_conflict_do_nothing()
    .returning(*Assignment.__table__.c),
}


def insert_assignment(session: Session, values: dict) -> Assignment | None:
    """Insert an assignment unless it conflicts (the item already held by them, or the slot by
    someone): the new row, part of the session as if loaded, or None."""
    statement = _NEW_ASSIGNMENT[session.get_bind().dialect.name]
    row = run(session, statement, values).first()
    return attach(session, Assignment, row._asdict()) if row is not None else None


_UNNEST_SLOTS = text(
    "INSERT INTO study_slots (study_id, item_key, slot, prompt_id, gen_a, gen_b, position) "
    "SELECT * FROM unnest(CAST(:study_id AS integer[]), CAST(:item_key AS text[]), "
    "CAST(:slot AS integer[]), CAST(:prompt_id AS integer[]), CAST(:gen_a AS integer[]), "
    "CAST(:gen_b AS integer[]), CAST(:position AS integer[])) ON CONFLICT DO NOTHING"
)
_SLOT_COLUMNS = ("study_id", "item_key", "slot", "prompt_id", "gen_a", "gen_b", "position")


def _insert_slots(session: Session, rows: list[dict]) -> None:
    if session.get_bind().dialect.name == "postgresql" and len(rows) > 1:
        # A whole pool in a few statements: one array per column, unnested by the server.
        for start in range(0, len(rows), INSERT_CHUNK * 10):
            chunk = rows[start : start + INSERT_CHUNK * 10]
            session.execute(_UNNEST_SLOTS, {c: [row[c] for row in chunk] for c in _SLOT_COLUMNS})
        return
    statement = insert_ignoring_conflicts(session, StudySlot.__table__)
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(statement, rows[start : start + INSERT_CHUNK])


def sync_slots(session: Session, study: Study) -> int:
    """Make the open slots of every item that has neither a free row nor a live or answered
    assignment for them (a new study, or items new in this pool version). Returns how many."""
    if session.get_bind().dialect.name == "postgresql":
        # One syncer per study at a time; claims go on meanwhile.
        session.execute(select(Study.id).where(Study.id == study.id).with_for_update())
    pool = study_pool(session, study)
    taken = set(
        session.execute(
            select(StudySlot.item_key, StudySlot.slot).where(StudySlot.study_id == study.id)
        ).all()
    )
    taken |= set(
        session.execute(
            select(Assignment.item_key, Assignment.slot).where(
                Assignment.study_id == study.id, Assignment.item_key.is_not(None)
            )
        ).all()
    )
    rows = [
        _slot_row(study, item, slot)
        for item in pool.items.values()
        for slot in range(study.raters_per_item)
        if (item.key, slot) not in taken
    ]
    _insert_slots(session, rows)
    if len(rows) > 1000:  # a large pool just arrived: keep the planner's picture of it fresh
        analyze(session, "study_slots")
    session.execute(
        update(Study)
        .where(Study.id == study.id, Study.slots_version < pool.version)
        .values(slots_version=pool.version)
        .execution_options(synchronize_session=False)
    )
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(study, "slots_version", pool.version)
    return len(rows)


def ensure_slots(session: Session, study: Study) -> None:
    """Make the slots for the study's current pool version if that was not done yet."""
    if study.slots_version != study.items_version:
        sync_slots(session, study)


@dataclass(frozen=True)
class ClaimedSlot:
    item_key: str
    slot: int
    prompt_id: int | None
    gen_a: int | None
    gen_b: int | None
    position: int


# LIMIT 1 and OFFSET 0 written into the claim's SQL, not bound: PostgreSQL plans a prepared
# statement once (a generic plan) only when that plan costs no more than one planned for the
# values; with the LIMIT a parameter it cannot tell the ordered index scan stops at the first
# row, so it planned the claim again on every execution (0.2-0.3 ms of its CPU per vote).
_ONE = literal_column("1")
_ZERO = literal_column("0")


def never_held(annotator_id, item_key) -> tuple:
    """Conditions: the annotator never held the item `item_key` names (held or answered it) and
    never skipped it ("can't judge": never shown to them again).

    Two NOT EXISTS, each one index probe per candidate slot on (annotator, item) indexes
    (ix_assignments_annotator_item, ix_assignments_annotator_skipped), so the plan does not
    hang on statistics: a new study's rows are missing from them until the next ANALYZE. One
    EXISTS with an OR of the two, keyed on the study, was planned as a join of every candidate
    slot against all of the annotator's assignments (1.4-3 ms per claim at 420 answers, over
    half of PostgreSQL's time per vote, growing with every answer)."""
    held = select(Assignment.id).where(
        Assignment.annotator_id == annotator_id, Assignment.item_key == item_key
    )
    skipped = select(Assignment.id).where(
        Assignment.annotator_id == annotator_id, Assignment.skipped_item_key == item_key
    )
    # OFFSET 0 keeps each EXISTS a probe per candidate: PostgreSQL does not turn a subquery
    # with an OFFSET into a join (a join reads all their assignments before the first slot).
    return (~held.offset(_ZERO).exists(), ~skipped.offset(_ZERO).exists())


def _claim_statement(pair: bool):
    """DELETE the first free slot (in the study's order) of an item the annotator never held,
    RETURNING it; `pair`: only items of two given generators."""
    s = StudySlot.__table__.alias("s")
    pick = select(s.c.id).where(
        s.c.study_id == bindparam("p_study"),
        *never_held(bindparam("p_annotator"), s.c.item_key),
    )
    if pair:
        pick = pick.where(s.c.gen_a == bindparam("p_gen_a"), s.c.gen_b == bindparam("p_gen_b"))
    pick = pick.order_by(s.c.position, s.c.slot).limit(_ONE).with_for_update(skip_locked=True)
    table = StudySlot.__table__
    return (
        delete(table)
        .where(table.c.id == pick.scalar_subquery())
        .returning(
            table.c.item_key,
            table.c.slot,
            table.c.prompt_id,
            table.c.gen_a,
            table.c.gen_b,
            table.c.position,
        )
    )


# Built once: the vote path runs one of them per claim (app/services/studies/hot_path.py).
_CLAIM_ANY = _claim_statement(pair=False)
_CLAIM_OF_PAIR = _claim_statement(pair=True)


def claim_slot(
    session: Session,
    study: Study,
    annotator_id: int,
    pair: tuple[int, int] | None = None,
) -> ClaimedSlot | None:
    """Take the first free slot (in the study's order) of an item this annotator never held.

    `pair`: only items of these two generators (ids, gen_a < gen_b). One statement."""
    params = {"p_study": study.id, "p_annotator": annotator_id}
    if pair is None:
        row = run(session, _CLAIM_ANY, params).first()
    else:
        params.update(p_gen_a=pair[0], p_gen_b=pair[1])
        row = run(session, _CLAIM_OF_PAIR, params).first()
    return ClaimedSlot(*row) if row is not None else None


def return_slot(session: Session, study: Study, slot: ClaimedSlot) -> None:
    """Put a claimed slot back (its assignment could not be made)."""
    _insert_slots(
        session,
        [
            {
                "study_id": study.id,
                "item_key": slot.item_key,
                "slot": slot.slot,
                "prompt_id": slot.prompt_id,
                "gen_a": slot.gen_a,
                "gen_b": slot.gen_b,
                "position": slot.position,
            }
        ],
    )


def slot_generators(
    generator_id: int | None, left_id: int | None, right_id: int | None
) -> tuple[int | None, int | None]:
    """A slot's (gen_a, gen_b) from an assignment's generators: the rated one, or the pair in
    id order whatever side each was shown on."""
    if generator_id is not None:
        return generator_id, None
    pair = sorted(g for g in (left_id, right_id) if g)
    return tuple([*pair, None, None][:2])


def release_expired(session: Session, study: Study, now: datetime) -> int:
    """Give back the slots of expired, unanswered assignments. Returns how many were released.

    SKIP LOCKED: a row locked by an in-flight vote is left to that vote; concurrent releasers
    never wait on each other. The UPDATE re-checks, so a row released twice is counted once."""
    candidates = session.execute(
        select(
            Assignment.id,
            Assignment.item_key,
            Assignment.slot,
            Assignment.prompt_id,
            Assignment.generator_left_id,
            Assignment.generator_right_id,
            Assignment.generator_id,
        )
        .where(
            Assignment.study_id == study.id,
            Assignment.answered_at.is_(None),
            Assignment.item_key.is_not(None),
            Assignment.expires_at <= now,
        )
        .order_by(Assignment.id)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        return 0
    released = set(
        session.scalars(
            update(Assignment)
            .where(
                Assignment.id.in_([row.id for row in candidates]),
                Assignment.answered_at.is_(None),
                Assignment.item_key.is_not(None),
                Assignment.expires_at <= now,
            )
            .values(item_key=None, slot=None)
            .returning(Assignment.id)
            .execution_options(synchronize_session=False)
        )
    )
    rows = []
    for row in candidates:
        if row.id not in released:
            continue
        gen_a, gen_b = slot_generators(
            row.generator_id, row.generator_left_id, row.generator_right_id
        )
        # Back at the front of the order: a slot that was handed out once is filled first.
        rows.append(
            {
                "study_id": study.id,
                "item_key": row.item_key,
                "slot": row.slot,
                "prompt_id": row.prompt_id,
                "gen_a": gen_a,
                "gen_b": gen_b,
                "position": -1,
            }
        )
    _insert_slots(session, rows)
    for assignment in session.identity_map.values():
        if isinstance(assignment, Assignment) and assignment.id in released:
            session.expire(assignment, ["item_key", "slot"])
    return len(rows)


def sweep_due(session: Session, study: Study) -> bool:
    """Whether this process should look for expired claims of the study now (and note it)."""
    key = _study_key(session, study)
    now = time.monotonic()
    with _LOCK:
        if now - _LAST_SWEEP.get(key, float("-inf")) < SWEEP_SECONDS:
            return False
        _LAST_SWEEP[key] = now
        return True


def has_free_slot(session: Session, study: Study, annotator_id: int) -> bool:
    """Whether a free slot is left that this annotator may take (no claim)."""
    free = select(StudySlot.id).where(
        StudySlot.study_id == study.id,
        *never_held(annotator_id, StudySlot.item_key),
    )
    return session.scalar(free.limit(1)) is not None


def _bump_pool_versions(session: Session, _flush_context) -> None:
    """In the flush that adds an image to a study's generators (or changes a study's raters per
    item), bump the study's pool version: its item caches and open slots are made again."""
    generator_ids = {
        obj.generator_id
        for obj in session.new
        if isinstance(obj, Image) and obj.generator_id is not None
    }
    study_ids = {
        obj.id
        for obj in session.dirty
        if isinstance(obj, Study) and get_history(obj, "raters_per_item").has_changes()
    }
    if not generator_ids and not study_ids:
        return
    table = Study.__table__
    session.connection().execute(
        update(table)
        .where(
            table.c.id.in_(
                select(study_generators.c.study_id).where(
                    study_generators.c.generator_id.in_(generator_ids)
                )
            )
            | table.c.id.in_(study_ids)
        )
        .values(items_version=table.c.items_version + 1)
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Study):
            session.expire(obj, ["items_version"])


def install_pool_hooks(factory: sessionmaker) -> None:
    """Bump the pool version of every study an image joins, in the flush that adds it."""
    event.listen(factory, "after_flush", _bump_pool_versions)


def clear_caches() -> None:
    with _LOCK:
        _POOLS.clear()
        _LAST_SWEEP.clear()
