"""Assignment and voting services: coverage of items, no repeats, expiry, sides, checks, policy."""

from __future__ import annotations

import sys
import threading
import types
from collections import Counter, defaultdict
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from app.errors import Conflict, Gone, InvalidInput
from app.media import MediaStore
from app.models import Annotator, Assignment, Vote, utcnow
from app.services.studies.annotator_sessions import start_session
from app.services.studies.assignment import next_assignment, progress, task_view
from app.services.studies.invites import create_invites
from app.services.studies.pair_policy import choose_pair, vote_tables
from app.services.studies.task_images import side_variant
from app.services.studies.vote_export import export_rows
from app.services.studies.votes import submit_vote
from tests.support.humaneval import seed_study


def _annotators(session, study, n):
    return [a for a, _url in create_invites(session, study, n, "http://test")]


def _votes_per_item(session, study_id):
    rows = session.execute(
        select(Assignment.item_key, Vote.annotator_id)
        .join(Vote, Vote.assignment_id == Assignment.id)
        .where(Assignment.study_id == study_id, Assignment.check_kind.is_(None))
    ).all()
    per_item = defaultdict(list)
    for key, annotator in rows:
        per_item[key].append(annotator)
    return per_item


def _work(
    factory,
    annotator_id,
    barrier,
    errors,
    counts,
    choice_cycle=("left", "right", "tie"),
):
    """One annotator answering until nothing is left, in its own session (one per thread)."""
    rng = np.random.default_rng(annotator_id)
    try:
        with factory() as session:
            annotator = session.get(Annotator, annotator_id)
            barrier.wait()
            n = 0
            while True:
                assignment = next_assignment(session, annotator, rng=rng)
                session.commit()
                if assignment is None:
                    break
                submit_vote(session, annotator, assignment.public_id, choice=choice_cycle[n % 3])
                session.commit()
                n += 1
            counts[annotator_id] = n
    except Exception as exc:  # noqa: BLE001 - surfaced by the main thread
        errors.append(exc)


def _answer_concurrently(factory, annotators: int, **study) -> tuple[int, list[int], dict]:
    """`annotators` threads each answering every task they get of a new study, at once:
    (study id, annotator ids, answers per annotator)."""
    with factory() as session:
        seeded = seed_study(session, **study)
        ids = [a.id for a in _annotators(session, seeded, annotators)]
        session.commit()
        study_id = seeded.id
    barrier, errors, counts = threading.Barrier(annotators), [], {}
    threads = [
        threading.Thread(target=_work, args=(factory, i, barrier, errors, counts)) for i in ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return study_id, ids, counts


def test_three_concurrent_annotators_cover_every_item_exactly_three_times(factory):
    study_id, ids, counts = _answer_concurrently(
        factory, 3, generators=3, prompts=5, raters_per_item=3
    )
    with factory() as session:
        per_item = _votes_per_item(session, study_id)
        # 5 prompts × 3 generator pairs, each answered by all three annotators, once each.
        assert len(per_item) == 15
        for key, raters in per_item.items():
            assert sorted(raters) == sorted(ids), key
        assert counts == {i: 15 for i in ids}
        # No annotator ever held the same item twice, even transiently.
        held = session.execute(
            select(Assignment.annotator_id, Assignment.item_key, func.count())
            .where(Assignment.study_id == study_id, Assignment.item_key.is_not(None))
            .group_by(Assignment.annotator_id, Assignment.item_key)
        ).all()
        assert all(n == 1 for _a, _k, n in held)


def test_more_annotators_than_slots_never_overfill_an_item(factory):
    study_id, _ids, counts = _answer_concurrently(
        factory, 5, generators=3, prompts=3, raters_per_item=2
    )
    with factory() as session:
        per_item = _votes_per_item(session, study_id)
        assert len(per_item) == 9
        assert all(len(set(r)) == len(r) == 2 for r in per_item.values())
        assert sum(counts.values()) == 18


def test_expired_assignment_frees_its_slot_and_late_vote_is_gone(factory):
    with factory() as session:
        study = seed_study(session, generators=2, prompts=1, raters_per_item=1)
        first, second = _annotators(session, study, 2)
        t0 = utcnow()
        held = next_assignment(session, first, now=t0, ttl_seconds=60)
        assert held is not None
        # While held, the only slot is taken.
        assert next_assignment(session, second, now=t0 + timedelta(seconds=30)) is None
        later = t0 + timedelta(seconds=61)
        reissued = next_assignment(session, second, now=later, ttl_seconds=60)
        pair = sorted((held.generator_left_id, held.generator_right_id))
        assert reissued is not None
        assert reissued.item_key == f"p{held.prompt_id}:{pair[0]}:{pair[1]}"
        session.refresh(held)
        assert held.item_key is None and held.slot is None  # the slot was given back
        with pytest.raises(Gone):
            submit_vote(session, first, held.public_id, choice="left", now=later)
        submit_vote(session, second, reissued.public_id, choice="right", now=later)
        session.commit()
        assert session.scalar(select(func.count()).select_from(Vote)) == 1


def test_same_annotator_gets_an_expired_item_again_but_never_an_answered_one(factory):
    with factory() as session:
        study = seed_study(session, generators=2, prompts=1, raters_per_item=3)
        (annotator,) = _annotators(session, study, 1)
        t0 = utcnow()
        first = next_assignment(session, annotator, now=t0, ttl_seconds=10)
        # Reloading the page returns the same task while it is live.
        assert next_assignment(session, annotator, now=t0 + timedelta(seconds=5)).id == first.id
        again = next_assignment(session, annotator, now=t0 + timedelta(seconds=11), ttl_seconds=10)
        assert again.id != first.id
        submit_vote(
            session,
            annotator,
            again.public_id,
            choice="tie",
            now=t0 + timedelta(seconds=12),
        )
        assert next_assignment(session, annotator, now=t0 + timedelta(seconds=13)) is None
        assert progress(session, annotator) == (1, 1)


def test_sides_are_randomised_and_winner_follows_the_stored_sides(factory):
    with factory() as session:
        study = seed_study(session, generators=2, prompts=40, raters_per_item=1)
        (annotator,) = _annotators(session, study, 1)
        rng = np.random.default_rng(7)
        lefts = Counter()
        while (assignment := next_assignment(session, annotator, rng=rng)) is not None:
            lefts[assignment.generator_left_id] += 1
            assert assignment.generator_left_id != assignment.generator_right_id
            submit_vote(session, annotator, assignment.public_id, choice="left")
        assert sum(lefts.values()) == 40 and min(lefts.values()) >= 10
        names = {g.id: g.name for g in study.generators}
        for row, vote in zip(
            export_rows(session, study, exclusions=False),
            session.scalars(select(Vote).order_by(Vote.created_at, Vote.id)),
            strict=True,
        ):
            assignment = session.get(Assignment, vote.assignment_id)
            assert row["winner"] == "model_a" == vote.winner
            assert row["model_a"] == names[assignment.generator_left_id]
            assert row["model_b"] == names[assignment.generator_right_id]


def test_resubmission_is_idempotent_and_a_different_answer_conflicts(factory):
    with factory() as session:
        study = seed_study(session)
        (annotator,) = _annotators(session, study, 1)
        assignment = next_assignment(session, annotator)
        vote = submit_vote(session, annotator, assignment.public_id, choice="left", client_ms=900)
        session.commit()
        again = submit_vote(session, annotator, assignment.public_id, choice="left", client_ms=1500)
        assert again.id == vote.id and again.client_ms == 900
        with pytest.raises(Conflict, match="different answer"):
            submit_vote(session, annotator, assignment.public_id, choice="right")
        with pytest.raises(InvalidInput, match="choice must be one of"):
            submit_vote(session, annotator, assignment.public_id, choice="middle")
        assert session.scalar(select(func.count()).select_from(Vote)) == 1


def test_rating_and_flag_answers_are_validated_and_normalised(factory):
    with factory() as session:
        rating = seed_study(session, "rating", name="mos")
        flag = seed_study(session, "flag", name="flags")
        (rater,) = _annotators(session, rating, 1)
        (flagger,) = _annotators(session, flag, 1)
        task = next_assignment(session, rater)
        assert task.image_id is not None and task.generator_id is not None
        for bad in ("0", "6", "2.5", "x", None):
            with pytest.raises(InvalidInput, match="rating must be"):
                submit_vote(session, rater, task.public_id, rating=bad)
        assert submit_vote(session, rater, task.public_id, rating="4").rating == 4
        task = next_assignment(session, flagger)
        with pytest.raises(InvalidInput, match="unknown flags"):
            submit_vote(session, flagger, task.public_id, flags=["blurry"])
        with pytest.raises(InvalidInput, match="flags is required"):
            submit_vote(session, flagger, task.public_id)
        vote = submit_vote(session, flagger, task.public_id, flags=["unsafe", "anatomy", "unsafe"])
        assert vote.flags == ["anatomy", "unsafe"]
        other = next_assignment(session, flagger)
        assert submit_vote(session, flagger, other.public_id, flags=[]).flags == []


def test_attention_checks_degraded_and_repeat(factory):
    with factory() as session:
        study = seed_study(session, generators=2, prompts=6, attention_check_rate=1.0)
        (annotator,) = _annotators(session, study, 1)
        rng = np.random.default_rng(3)
        first = next_assignment(session, annotator, rng=rng)
        assert first.check_kind is None  # no check before a first real answer
        submit_vote(session, annotator, first.public_id, choice="left")
        kinds = Counter()
        for _ in range(12):
            check = next_assignment(session, annotator, rng=rng)
            assert check.check_kind in ("degraded", "repeat") and check.item_key is None
            kinds[check.check_kind] += 1
            if check.check_kind == "degraded":
                degraded = check.degraded_side
                assert check.expected_choice == {"left": "right", "right": "left"}[degraded]
                # The degraded side is served from the check copy, the other side clean.
                other = {"left": "right", "right": "left"}[degraded]
                assert side_variant(check, degraded) == "degraded"
                assert side_variant(check, other) == "clean"
                assert getattr(check, f"generator_{degraded}_id") is None
            else:
                assert check.repeat_of_id == first.id
                assert check.image_left_id == first.image_right_id
                assert check.expected_choice == "right"
            submit_vote(session, annotator, check.public_id, choice=check.expected_choice)
        assert kinds["degraded"] and kinds["repeat"] == 1  # a pair is repeated only once
        # Checks stay out of the tallies the pair policy (and the ratings) use.
        wins, ties = vote_tables(session, study)
        assert wins.sum() + ties.sum() / 2 == 1


def test_served_check_image_is_a_degraded_copy(arena):
    from tests.web.conftest import invite_urls, make_study, upload_pool

    upload_pool(arena)
    study = make_study(arena, attention_check_rate=1.0)
    invite_urls(arena, study)
    with arena.session_factory() as session:
        annotator = session.scalar(select(Annotator))
        first = next_assignment(session, annotator)
        submit_vote(session, annotator, first.public_id, choice="left")
        check = next_assignment(session, annotator, rng=np.random.default_rng(1))
        while check.check_kind != "degraded":
            submit_vote(session, annotator, check.public_id, choice="left")
            check = next_assignment(session, annotator, rng=np.random.default_rng(1))
        viewer, cookie = start_session(session, annotator)
        view = task_view(session, MediaStore(arena.settings.media_dir), check, viewer)
        session.commit()
    import io

    from fastapi.testclient import TestClient
    from PIL import Image as PILImage

    browser = TestClient(arena.app, cookies={"arena_session": cookie})
    left = browser.get(f"/study/{study['public_id']}/image/{view.left_image}")
    right = browser.get(f"/study/{study['public_id']}/image/{view.right_image}")
    assert left.status_code == right.status_code == 200
    a = np.asarray(PILImage.open(io.BytesIO(left.content)).convert("RGB"), dtype=float)
    b = np.asarray(PILImage.open(io.BytesIO(right.content)).convert("RGB"), dtype=float)
    assert a.shape == b.shape and np.abs(a - b).mean() > 20
    assert left.content != right.content


def test_uniform_policy_and_active_policy_wiring(factory, monkeypatch):
    with factory() as session:
        study = seed_study(session, generators=3, prompts=2)
        (annotator,) = _annotators(session, study, 1)
        assignment = next_assignment(session, annotator, rng=np.random.default_rng(0))
        submit_vote(session, annotator, assignment.public_id, choice="left")
        candidates = [(0, 1), (0, 2), (1, 2)]
        picks = Counter(
            choose_pair(session, study, candidates, np.random.default_rng(s)) for s in range(300)
        )
        assert set(picks) == set(candidates) and min(picks.values()) > 60

        calls = []

        def fake_active(wins, ties, cands, rng):
            calls.append((wins.copy(), ties.copy(), list(cands)))
            return cands[-1]

        module = types.ModuleType("app.stats.active_sampling")
        module.choose_pair = fake_active
        monkeypatch.setitem(sys.modules, "app.stats.active_sampling", module)
        study.pair_policy = "active"
        assert choose_pair(session, study, candidates, np.random.default_rng(0)) == (
            1,
            2,
        )
        wins, ties, cands = calls[0]
        index = {g.id: k for k, g in enumerate(sorted(study.generators, key=lambda g: g.id))}
        i, j = index[assignment.generator_left_id], index[assignment.generator_right_id]
        assert wins[i, j] == 1 and wins.sum() == 1 and ties.sum() == 0
        assert cands == candidates
        # next_assignment goes through the same function.
        nxt = next_assignment(session, annotator, rng=np.random.default_rng(0))
        assert len(calls) == 2 and nxt is not None


def test_task_cap_and_closed_study(factory):
    with factory() as session:
        study = seed_study(session, generators=2, prompts=5, max_tasks_per_annotator=2)
        (annotator,) = _annotators(session, study, 1)
        for _ in range(2):
            task = next_assignment(session, annotator)
            submit_vote(session, annotator, task.public_id, choice="tie")
        assert next_assignment(session, annotator) is None
        assert progress(session, annotator) == (2, 2)
        (other,) = _annotators(session, study, 1)
        task = next_assignment(session, other)
        study.status = "closed"
        with pytest.raises(Conflict, match="closed"):
            submit_vote(session, other, task.public_id, choice="left")
        with pytest.raises(Conflict, match="closed"):
            next_assignment(session, other)


def test_items_follow_a_new_upload_to_an_open_study(factory):
    """The item list is cached per pool fingerprint: an image added later is in the next list."""
    import hashlib

    from app.models import Batch, Image, Prompt
    from app.services.studies.study import study_items

    with factory() as session:
        study = seed_study(session, "rating", generators=2, prompts=2)
        session.commit()
        before = study_items(session, study)
        assert study_items(session, study) is before  # served from the cache
        gen = study.generators[0]
        prompt = session.scalar(select(Prompt).where(Prompt.prompt_set_id == study.prompt_set_id))
        batch = Batch(generator_id=gen.id, n_images=1)
        session.add(batch)
        session.flush()
        image = Image(
            generator_id=gen.id,
            prompt_id=prompt.id,
            batch_id=batch.id,
            sha256=hashlib.sha256(b"late upload").hexdigest(),
            width=8,
            height=8,
            byte_size=1,
            format="PNG",
        )
        session.add(image)
        session.commit()
        after = study_items(session, study)
        assert len(after) == len(before) + 1
        assert f"i{image.id}" in after
