"""answer_and_continue: the vote, the next task and the progress bar in one short transaction.

Counts the SQL statements of each task-and-vote cycle (at most six, whatever the study's size)
and checks the guarantees on SQLite and PostgreSQL: k distinct raters per item, never the same
item twice to one annotator, expiry, idempotent re-send, 409 on a changed answer, exactly-once
storage under concurrent duplicates, attention checks, and a pool that follows new uploads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import event, func, select

from app.errors import Conflict, Gone
from app.media import MediaStore
from app.models import Annotator, Assignment, Batch, Image, Prompt, Study, StudySlot, Vote, utcnow
from app.services.studies import assignment as assignment_service
from app.services.studies import slots
from app.services.studies.annotator_sessions import start_session
from app.services.studies.assignment import answer_and_continue, next_assignment
from app.services.studies.invites import create_invites
from app.services.studies.task_images import rendition_id
from tests.support.humaneval import seed_study

# A steady task-and-vote cycle: at most six statements; on PostgreSQL three (the vote's three
# writes are one statement, and a new assignment comes with its image tokens in one).
MAX_STATEMENTS = 6
MAX_STATEMENTS_POSTGRESQL = 3


def max_statements(engine) -> int:
    return MAX_STATEMENTS_POSTGRESQL if engine.dialect.name == "postgresql" else MAX_STATEMENTS


@contextmanager
def counting(engine):
    """Every statement the engine sends to the database inside the block."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _annotators(session, study, n):
    return [a for a, _url in create_invites(session, study, n, "http://test")]


def _answer(task):
    if task.check_kind is not None and task.expected_choice:
        return {"choice": task.expected_choice}
    return {"choice": "left"}


def _cycles(session, store, study, annotator, viewer, engine, rng):
    """Answer every task of one annotator; the statement count of each cycle."""
    task = next_assignment(session, annotator, rng=rng)
    session.commit()
    counts = []
    while task is not None:
        with counting(engine) as statements:
            step = answer_and_continue(
                session, store, study, annotator, viewer, task.public_id, rng=rng, **_answer(task)
            )
            session.commit()
        counts.append(len(statements))
        task = step.assignment
    return counts


def _opened(arena, annotators: int, **fields):
    """An open study over the test pool with `annotators` invited: (study JSON, engine, store)."""
    from tests.web.conftest import invite_urls, make_study, upload_pool

    upload_pool(arena)
    public = make_study(arena, **fields)
    invite_urls(arena, public, annotators)
    return public, arena.app.state.engine, MediaStore(arena.settings.media_dir)


def _loaded(session, public) -> tuple[Study, list[Annotator]]:
    """The opened study and its invited annotators, in invitation order, in `session`."""
    study = session.scalar(select(Study).where(Study.public_id == public["public_id"]))
    return study, session.scalars(select(Annotator).order_by(Annotator.id)).all()


@pytest.fixture
def quiet_sweeps(monkeypatch):
    """Periodic work out of the count: expiry sweeps, active-policy refreshes and the refresh of
    check sources are debounced per process (a claim that finds nothing still sweeps)."""
    monkeypatch.setattr(slots, "SWEEP_SECONDS", 1e9)
    monkeypatch.setattr(assignment_service, "ACTIVE_REFRESH_SECONDS", 1e9)
    monkeypatch.setattr(assignment_service, "CHECK_SOURCE_SECONDS", 1e9)
    slots.clear_caches()


@pytest.mark.parametrize("policy", ["uniform", "active"])
def test_a_cycle_takes_at_most_six_statements(arena, quiet_sweeps, policy):
    public, engine, store = _opened(arena, 2, pair_policy=policy, raters_per_item=2)
    with arena.session_factory() as session:
        study, (first, second) = _loaded(session, public)
        rng = np.random.default_rng(5)
        warm = _cycles(session, store, study, first, start_session(session, first)[0], engine, rng)
        counts = _cycles(
            session, store, study, second, start_session(session, second)[0], engine, rng
        )
    assert len(warm) == len(counts) == 12
    # The first cycle of a process fills its caches (renditions, tallies); then six at most,
    # and the last one (nothing left: one extra look for expired claims) as well. The active
    # policy may pick a pair that ran out for this annotator: one more statement, once per pair.
    spare, most = 3, max_statements(engine)
    for cycles in (warm[1:], counts):
        assert max(cycles) <= most + 1, cycles
        assert sum(n > most for n in cycles) <= spare, cycles


def test_check_cycles_stay_within_six_statements(arena, quiet_sweeps):
    public, engine, store = _opened(arena, 2, attention_check_rate=0.5, raters_per_item=2)
    with arena.session_factory() as session:
        study, (first, second) = _loaded(session, public)
        # Warm the per-process caches a long-running server holds: check copies and renditions.
        pool = slots.study_pool(session, study)
        for item in pool.items.values():
            for image in (*item.images_a, *item.images_b):
                assignment_service.check_image_id(session, study, image)
                for variant in ("clean", "degraded"):
                    rendition_id(session, store, study, image, variant)
        session.commit()
        rng = np.random.default_rng(11)
        _cycles(session, store, study, first, start_session(session, first)[0], engine, rng)
        counts = _cycles(
            session, store, study, second, start_session(session, second)[0], engine, rng
        )
        kinds = session.execute(
            select(Assignment.check_kind, func.count()).group_by(Assignment.check_kind)
        ).all()
    assert {kind for kind, _n in kinds} >= {None, "degraded"}
    # As above: a pair the uniform policy draws may have run out for this annotator, which
    # costs one more claim statement, once per pair (the pair is then remembered as spent).
    n_pairs, most = len(pool.pairs), max_statements(engine)
    if engine.dialect.name == "postgresql":
        most += 1  # a check's image tokens are inserted in a statement of their own
    assert max(counts) <= most + 1, counts
    assert sum(n > most for n in counts) <= n_pairs, counts


def _work(factory, study_id, annotator_id, barrier, errors, counts):
    rng = np.random.default_rng(annotator_id)
    try:
        with factory() as session:
            study = session.get(Study, study_id)
            annotator = session.get(Annotator, annotator_id)
            barrier.wait()
            task = next_assignment(session, annotator, rng=rng)
            session.commit()
            n = 0
            while task is not None:
                step = answer_and_continue(
                    session, None, study, annotator, None, task.public_id, choice="tie", rng=rng
                )
                session.commit()
                n += 1
                task = step.assignment
            counts[annotator_id] = n
    except Exception as exc:  # noqa: BLE001 - surfaced by the main thread
        errors.append(exc)


def test_concurrent_annotators_get_k_distinct_raters_and_no_repeats(factory):
    with factory() as session:
        study = seed_study(session, generators=3, prompts=4, raters_per_item=2)
        ids = [a.id for a in _annotators(session, study, 4)]
        session.commit()
        study_id = study.id
    barrier, errors, counts = threading.Barrier(4), [], {}
    threads = [
        threading.Thread(target=_work, args=(factory, study_id, i, barrier, errors, counts))
        for i in ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    with factory() as session:
        rows = session.execute(
            select(Assignment.item_key, Vote.annotator_id)
            .join(Vote, Vote.assignment_id == Assignment.id)
            .where(Assignment.study_id == study_id)
        ).all()
        per_item = defaultdict(list)
        for key, annotator in rows:
            per_item[key].append(annotator)
        assert len(per_item) == 12  # 4 prompts x 3 pairs
        assert all(len(r) == len(set(r)) == 2 for r in per_item.values())
        assert sum(counts.values()) == 24
        # Every slot is answered: none is left open, and the counters match the votes.
        assert session.scalar(select(func.count()).select_from(StudySlot)) == 0
        for annotator in session.scalars(select(Annotator)):
            assert annotator.n_answered == annotator.n_answered_real == counts[annotator.id]


def test_expired_claim_returns_to_the_pool_and_its_late_answer_is_gone(session):
    study = seed_study(session, generators=2, prompts=2, raters_per_item=1)
    first, second, third = _annotators(session, study, 3)
    t0 = utcnow()
    a = next_assignment(session, first, now=t0, ttl_seconds=60)
    held = (a.item_key, a.slot)
    b = next_assignment(session, second, now=t0, ttl_seconds=60)
    assert next_assignment(session, third, now=t0) is None  # both slots are held
    step = answer_and_continue(
        session, None, study, second, None, b.public_id, choice="left", now=t0, ttl_seconds=60
    )
    assert step.assignment is None and (step.answered, step.target) == (1, 1)
    later = t0 + timedelta(seconds=61)
    again = next_assignment(session, third, now=later)
    assert again is not None and (again.item_key, again.slot) == held
    session.refresh(a)
    assert a.item_key is None and a.slot is None
    with pytest.raises(Gone):
        answer_and_continue(
            session, None, study, first, None, a.public_id, choice="right", now=later
        )
    assert session.scalar(select(func.count()).select_from(Vote)) == 1


def test_resend_is_idempotent_and_a_changed_answer_conflicts(session):
    study = seed_study(session, generators=2, prompts=3, raters_per_item=1)
    (annotator,) = _annotators(session, study, 1)
    task = next_assignment(session, annotator)
    step = answer_and_continue(
        session, None, study, annotator, None, task.public_id, choice="left", client_ms=700
    )
    session.commit()
    again = answer_and_continue(
        session, None, study, annotator, None, task.public_id, choice="left", client_ms=900
    )
    assert again.vote.id == step.vote.id and again.vote.client_ms == 700
    assert again.assignment.id == step.assignment.id  # the current task, not a new one
    assert (again.answered, annotator.n_answered) == (1, 1)
    with pytest.raises(Conflict, match="different answer"):
        answer_and_continue(session, None, study, annotator, None, task.public_id, choice="right")
    assert session.scalar(select(func.count()).select_from(Vote)) == 1


def test_duplicate_submissions_at_once_store_one_vote(factory):
    with factory() as session:
        study = seed_study(session, generators=2, prompts=3, raters_per_item=1)
        (annotator,) = _annotators(session, study, 1)
        task = next_assignment(session, annotator)
        session.commit()
        study_id, annotator_id, public_id = study.id, annotator.id, task.public_id
    barrier, errors, votes = threading.Barrier(4), [], []

    def send():
        try:
            with factory() as session:
                study = session.get(Study, study_id)
                annotator = session.get(Annotator, annotator_id)
                barrier.wait()
                step = answer_and_continue(
                    session, None, study, annotator, None, public_id, choice="right"
                )
                session.commit()
                votes.append(step.vote.id)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(votes) == 4 and len(set(votes)) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 1
        assert session.get(Annotator, annotator_id).n_answered == 1


def test_attention_checks_come_after_a_first_real_answer(session):
    study = seed_study(session, generators=2, prompts=4, attention_check_rate=1.0)
    (annotator,) = _annotators(session, study, 1)
    rng = np.random.default_rng(2)
    task = next_assignment(session, annotator, rng=rng)
    assert task.check_kind is None
    kinds = []
    for _ in range(6):
        step = answer_and_continue(
            session, None, study, annotator, None, task.public_id, rng=rng, **_answer(task)
        )
        task = step.assignment
        kinds.append(task.check_kind)
    assert all(kind in ("degraded", "repeat") for kind in kinds)
    assert annotator.n_answered == 6 and annotator.n_answered_real == 1


def test_an_image_uploaded_to_an_open_study_becomes_a_task(session):
    study = seed_study(session, "rating", generators=1, prompts=1, raters_per_item=1)
    (annotator,) = _annotators(session, study, 1)
    version = study.items_version
    task = next_assignment(session, annotator)
    step = answer_and_continue(session, None, study, annotator, None, task.public_id, rating="3")
    assert step.assignment is None
    gen = study.generators[0]
    prompt = session.scalar(select(Prompt).where(Prompt.prompt_set_id == study.prompt_set_id))
    batch = Batch(generator_id=gen.id, n_images=1)
    session.add(batch)
    session.flush()
    session.add(
        Image(
            generator_id=gen.id,
            prompt_id=prompt.id,
            batch_id=batch.id,
            sha256=hashlib.sha256(b"a late upload").hexdigest(),
            width=8,
            height=8,
            byte_size=1,
            format="PNG",
        )
    )
    session.flush()
    assert study.items_version == version + 1
    later = next_assignment(session, annotator)
    assert later is not None and later.item_key != task.item_key


# The task page's session progress (issue 20: a total fixed per session, done = votes + "can't
# judge" answers, time left from the answer-time total) reads maintained counters: no statement.
SESSION_PROGRESS_STATEMENTS = 0
# The task held ahead (its images preloaded) is shown with the tokens already issued, from the
# claiming process's memory: no statement (one look-up in any other process).
AHEAD_STATEMENTS = 0


def test_the_whole_vote_request_adds_only_the_sign_in_lookups(arena, quiet_sweeps):
    """Over HTTP (htmx): the study and the session (with its annotator) are looked up, then the
    cycle with the task held ahead; the session's progress is read from counters; rate limits in
    memory (one process) cost no statement."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import GENERATORS, Page, invite_urls, make_study, upload_pool
    from tests.web.conftest import Annotator as Browser

    upload_pool(arena)
    public = make_study(arena, raters_per_item=1)
    [url] = invite_urls(arena, public)
    person = Browser(TestClient(arena.app), url)
    page = person.start()
    counts = []
    for _ in range(6):
        with counting(arena.app.state.engine) as statements:
            response = person.answer(page, choice="left")
        assert response.status_code == 200, response.text
        counts.append(len(statements))
        page = Page(response.text, page.study_path)
        assert 'name="ahead"' in response.text  # every answer shows the task held ahead
    engine = arena.app.state.engine
    budget = max_statements(engine) + 2 + SESSION_PROGRESS_STATEMENTS + AHEAD_STATEMENTS
    # Plus, at most once per pair, the extra claim when the drawn pair ran out for them.
    assert max(counts[1:]) <= budget + 1, counts
    n_pairs = len(GENERATORS) * (len(GENERATORS) - 1) // 2
    assert sum(n > budget for n in counts[1:]) <= n_pairs, counts


def test_more_raters_per_item_open_more_slots(session):
    study = seed_study(session, "rating", generators=1, prompts=1, raters_per_item=1)
    first, second = _annotators(session, study, 2)
    task = next_assignment(session, first)
    answer_and_continue(session, None, study, first, None, task.public_id, rating="4")
    assert next_assignment(session, second) is None
    study.raters_per_item = 2
    session.flush()
    again = next_assignment(session, second)
    assert again is not None and again.item_key == task.item_key


def _cycles_ahead(session, store, study, annotator, viewer, engine, rng, forget=False):
    """Answer every task of one annotator as the task page does, one task held ahead: the
    statement count of each cycle and every (shown, held ahead) pair."""
    task = next_assignment(session, annotator, rng=rng)
    ahead = assignment_service.claim_ahead(
        session, store, study, annotator, viewer, now=utcnow(), rng=rng
    )
    session.commit()
    counts, shown = [], []
    while task is not None:
        held = ahead.assignment.public_id if ahead else None
        if forget:  # as if another server process claimed it
            assignment_service._HELD_VIEWS.clear()
        with counting(engine) as statements:
            step = answer_and_continue(
                session,
                store,
                study,
                annotator,
                viewer,
                task.public_id,
                rng=rng,
                ahead=held,
                claim_ahead_room=True,
                **_answer(task),
            )
            session.commit()
        counts.append(len(statements))
        if ahead is not None:
            # The task held ahead is the one shown next, with the image URLs already preloaded.
            assert step.assignment.id == ahead.assignment.id
            assert step.task == ahead.task
        task, ahead = step.assignment, step.ahead
        if task is not None and ahead is not None:
            assert ahead.assignment.id != task.id and ahead.task.assignment_id != held
            shown.append((task, ahead.assignment))
    return counts, shown


@pytest.mark.parametrize("policy", ["uniform", "active"])
def test_a_cycle_with_a_task_held_ahead_adds_one_look_up(arena, quiet_sweeps, policy):
    public, engine, store = _opened(arena, 2, pair_policy=policy, raters_per_item=2)
    with arena.session_factory() as session:
        study, (first, second) = _loaded(session, public)
        rng = np.random.default_rng(7)
        warm, _ = _cycles_ahead(
            session, store, study, first, start_session(session, first)[0], engine, rng
        )
        counts, shown = _cycles_ahead(
            session, store, study, second, start_session(session, second)[0], engine, rng
        )
        votes = session.execute(
            select(Vote.annotator_id, Assignment.item_key).join(
                Assignment, Assignment.id == Vote.assignment_id
            )
        ).all()
        per_item = session.execute(
            select(Assignment.item_key, func.count(func.distinct(Vote.annotator_id)))
            .join(Vote, Vote.assignment_id == Assignment.id)
            .group_by(Assignment.item_key)
        ).all()
        open_left = session.scalar(
            select(func.count()).where(
                Assignment.answered_at.is_(None), Assignment.item_key.is_not(None)
            )
        )
    # Every item once to each annotator, k = 2 distinct raters, nothing left held at the end.
    assert len(warm) == len(counts) == 12 and len(shown) == 10
    assert {n for _key, n in per_item} == {2} and len(per_item) == 12
    assert len(votes) == len(set(votes))
    assert open_left == 0
    spare = 3  # as in the cycle test: a pair that ran out for them costs one more, once
    most = max_statements(engine) + AHEAD_STATEMENTS
    for cycles in (warm[1:], counts):
        assert max(cycles) <= most + 1, cycles
        assert sum(n > most for n in cycles) <= spare, cycles


def test_a_task_held_ahead_by_another_process_costs_one_look_up(arena, quiet_sweeps):
    public, engine, store = _opened(arena, 1, raters_per_item=1)
    with arena.session_factory() as session:
        study, (annotator,) = _loaded(session, public)
        viewer = start_session(session, annotator)[0]
        rng = np.random.default_rng(3)
        counts, shown = _cycles_ahead(
            session, store, study, annotator, viewer, engine, rng, forget=True
        )
    assert len(counts) == 12 and len(shown) == 10
    # + the look-up (+ a spent pair)
    assert max(counts[1:]) <= max_statements(engine) + 1 + 1, counts


def test_a_task_held_ahead_is_timed_from_the_previous_answer(arena):
    """The task ahead is claimed while another is on screen: its response time starts when it
    is shown (the previous answer), not when it was claimed; an expired one is not shown."""
    from tests.web.conftest import invite_urls, make_study, upload_pool

    upload_pool(arena)
    public = make_study(arena, kind="rating", raters_per_item=1)
    invite_urls(arena, public, 1)
    store = MediaStore(arena.settings.media_dir)
    with arena.session_factory() as session:
        _timed_ahead(session, store, public)


def test_a_new_answer_is_stored_as_the_session_reads_it(arena):
    """Whole milliseconds on screen, rounded down exactly (1.003 s is 1003, where the float
    product gave 1002), and the vote row, the assignment and the annotator's
    counters in the database are what the session holds after the answer (on PostgreSQL the
    three writes are one statement)."""
    from tests.web.conftest import invite_urls, make_study, upload_pool

    upload_pool(arena)
    public = make_study(arena, kind="rating", raters_per_item=1)
    invite_urls(arena, public, 1)
    store = MediaStore(arena.settings.media_dir)
    with arena.session_factory() as session:
        study, (annotator,) = _loaded(session, public)
        viewer = start_session(session, annotator)[0]
        t0 = utcnow()
        task = next_assignment(session, annotator, now=t0)
        issued = task.issued_at
        step = answer_and_continue(
            session,
            store,
            study,
            annotator,
            viewer,
            task.public_id,
            rating="4",
            client_ms=4321,
            now=issued + timedelta(microseconds=1_003_000),
        )
        assert step.vote.server_ms == 1003 and step.vote.rating == 4
        held = _counters(annotator)
        assert held[:3] == (1, 1, 1003)
        session.commit()
        stored = session.scalars(select(Vote)).one()
        assert (stored.id, stored.server_ms, stored.client_ms, stored.rating) == (
            step.vote.id,
            1003,
            4321,
            4,
        )
        assert stored.assignment_id == task.id and stored.created_at == held[3]
        session.refresh(annotator)
        assert _counters(annotator) == held
        assert session.get(Assignment, task.id).answered_at == held[3]


def _counters(annotator) -> tuple:
    return (
        annotator.n_answered,
        annotator.n_answered_real,
        annotator.answer_ms_total,
        annotator.last_answer_at,
    )


def _timed_ahead(session, store, public):
    study, (annotator,) = _loaded(session, public)
    viewer = start_session(session, annotator)[0]
    t0 = utcnow()
    task = next_assignment(session, annotator, now=t0)
    ahead = assignment_service.claim_ahead(session, store, study, annotator, viewer, now=t0)
    step = answer_and_continue(
        session,
        store,
        study,
        annotator,
        viewer,
        task.public_id,
        rating="4",
        now=t0 + timedelta(seconds=10),
        ahead=ahead.assignment.public_id,
        claim_ahead_room=False,
    )
    assert step.vote.server_ms == 10_000
    assert step.assignment.id == ahead.assignment.id and step.ahead is None
    later = answer_and_continue(
        session,
        store,
        study,
        annotator,
        viewer,
        step.assignment.public_id,
        rating="2",
        now=t0 + timedelta(seconds=25),
    )
    assert later.vote.server_ms == 15_000  # not 25 s since its claim
    assert annotator.answer_ms_total == 25_000 and annotator.last_answer_at is not None
    # A task held ahead that expired meanwhile (a 1 s TTL here) is not shown: a fresh task is
    # claimed instead.
    ahead = assignment_service.claim_ahead(
        session, store, study, annotator, viewer, now=t0 + timedelta(seconds=25), ttl_seconds=1
    )
    step = answer_and_continue(
        session,
        store,
        study,
        annotator,
        viewer,
        later.assignment.public_id,
        rating="3",
        now=t0 + timedelta(seconds=30),
        ahead=ahead.assignment.public_id,
    )
    assert step.assignment is None or step.assignment.id != ahead.assignment.id
