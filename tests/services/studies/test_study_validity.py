"""Studies whose conclusions survive review, through the services on SQLite and PostgreSQL: the
simulated study's exclusions, attention checks on real images, every image used evenly, the
vote-share cap, exclusion overrides and job progress."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.db import make_engine, make_session_factory
from app.models import Assignment, Image, Job, Vote, utcnow
from app.services.studies.assignment import next_assignment, task_cap
from app.services.studies.exclusions import annotator_report, exclusion_statuses, set_override
from app.services.studies.invites import create_simulated_annotator
from app.services.studies.study import study_items
from app.services.studies.vote_export import export_rows
from app.services.studies.votes import submit_vote

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "exclusions.py"


def _simulation():
    spec = importlib.util.spec_from_file_location("exclusions_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["exclusions_benchmark"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def factory(settings):
    engine = make_engine(settings)
    yield make_session_factory(engine)
    engine.dispose()


def test_simulated_study_excludes_the_careless_rater_and_at_most_one_honest(factory):
    """14 honest raters with realistic noise (4 side-biased) and 1 careless, seeded."""
    sim = _simulation()
    with factory() as session:
        result = sim.run_study(session, seed=0)
        session.commit()
        study = result["study"]
        assert result["careless_excluded"], result["reasons"]
        assert len(result["honest_excluded"]) <= 1, result["reasons"]
        # Every degraded check put a real reference image against its degraded copy.
        sources = session.execute(
            select(Image.reference_set_id)
            .join(Assignment, Assignment.image_left_id == Image.id)
            .where(Assignment.study_id == study.id, Assignment.check_kind == "degraded")
        ).all()
        assert sources and all(ref == study.reference_set_id for (ref,) in sources)
        # Enough checks per rater for the rule to speak, and nobody above the vote-share cap.
        figures = result["figures"]
        assert min(f["n_attention"] for f in figures.values()) >= 1
        assert max(f["vote_share"] for f in figures.values()) <= 0.2 + 1e-9
        # /annotators, the export and the leaderboard's rule agree on who is excluded.
        report = {r["handle"]: r for r in annotator_report(session, study)}
        status = exclusion_statuses(session, study)[1]
        assert {h for h, r in report.items() if r["excluded"]} == {
            h for h, s in status.items() if s.excluded
        }
        rows = export_rows(session, study, exclusions=False)
        for row in rows:
            assert row["annotator_excluded"] == report[row["annotator"]]["excluded"]
        kept = export_rows(session, study, exclusions=True)
        assert len(kept) < len(rows)
        assert not any(r["annotator_excluded"] for r in kept)


def _seed(session, sim, **fields):
    return sim.seed_study(session, **fields)


def _answer_all(session, study, annotators, rng, choice="left"):
    now = utcnow() - timedelta(hours=1)
    active = list(annotators)
    while active:
        for annotator in list(active):
            task = next_assignment(session, annotator, now=now, rng=rng)
            if task is None:
                active.remove(annotator)
                continue
            submit_vote(session, annotator, task.public_id, choice=choice, now=now)
            now += timedelta(seconds=3)


def test_pairwise_items_use_every_image_of_a_generator_evenly(factory):
    sim = _simulation()
    with factory() as session:
        study, _strength = _seed(
            session,
            sim,
            prompts=2,
            images_per_prompt=3,
            raters_per_item=6,
            attention_check_rate=0.0,
            max_vote_share=1.0,
        )
        assert len(study_items(session, study)) == 2 * 6  # items stay (prompt, pair)
        people = [create_simulated_annotator(session, study) for _ in range(6)]
        _answer_all(session, study, people, np.random.default_rng(3))
        shown: Counter = Counter()
        for left, right in session.execute(
            select(Assignment.image_left_id, Assignment.image_right_id).where(
                Assignment.study_id == study.id, Assignment.check_kind.is_(None)
            )
        ):
            shown[left] += 1
            shown[right] += 1
        per_owner: dict = {}
        for image in session.scalars(select(Image).where(Image.generator_id.is_not(None))):
            per_owner.setdefault((image.generator_id, image.prompt_id), []).append(shown[image.id])
        # 2 prompts x 4 generators x 3 images: every image shown, a generator's images within one.
        assert len(per_owner) == 8
        for counts in per_owner.values():
            assert len(counts) == 3 and min(counts) >= 1 and max(counts) - min(counts) <= 1


def test_one_annotator_casts_at_most_the_vote_share_cap(factory):
    sim = _simulation()
    with factory() as session:
        study, _strength = _seed(session, sim, prompts=5, attention_check_rate=0.0)
        items = len(study_items(session, study))
        cap = math.ceil(0.2 * items * study.raters_per_item)
        assert task_cap(study, items) == cap == 18
        eager = create_simulated_annotator(session, study)
        _answer_all(session, study, [eager], np.random.default_rng(0))
        n = len(session.scalars(select(Vote.id).where(Vote.annotator_id == eager.id)).all())
        assert n == cap
        assert next_assignment(session, eager) is None
        # Another annotator still gets items.
        other = create_simulated_annotator(session, study)
        assert next_assignment(session, other) is not None


def test_overrides_exclude_and_reinstate_whatever_the_rule_says(factory):
    sim = _simulation()
    with factory() as session:
        result = sim.run_study(session, seed=1, prompts=6)
        study = result["study"]
        status = exclusion_statuses(session, study)[1]
        auto = next(h for h, s in status.items() if s.automatic_reasons)
        honest = next(h for h, s in status.items() if not s.automatic_reasons)
        set_override(session, study, auto, "reinstate", "checked by hand")
        set_override(session, study, honest, "exclude", "wrote 'test' in comments")
        status = exclusion_statuses(session, study)[1]
        assert not status[auto].excluded and status[auto].automatic_reasons
        assert status[honest].excluded
        assert status[honest].reasons[0] == (
            "excluded by an administrator: wrote 'test' in comments"
        )
        set_override(session, study, auto, "clear")
        assert exclusion_statuses(session, study)[1][auto].excluded


def test_job_progress_is_written_per_chunk_and_on_completion(settings):
    from workers.runner import Worker

    seen = []

    def chunked(context, session):
        for done in (1, 2, 3):
            context.progress(done, 3)
            with context.session_factory() as other:
                job = other.get(Job, context.job.id)
                seen.append((job.progress_done, job.progress_total))
        return {"chunks": 3}

    def no_units(context, session):
        return {}

    worker = Worker(settings, once=True)
    worker.handlers = {"chunked": chunked, "plain": no_units}
    with worker.factory() as session:
        session.add_all(
            [
                Job(kind="chunked", payload={}, scope="test:1"),
                Job(kind="plain", payload={}, scope="test:2"),
            ]
        )
        session.commit()
    worker.run()
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with worker.factory() as session:
        jobs = {j.kind: j for j in session.scalars(select(Job))}
        assert jobs["chunked"].status == "done"
        assert (jobs["chunked"].progress_done, jobs["chunked"].progress_total) == (3, 3)
        assert (jobs["plain"].progress_done, jobs["plain"].progress_total) == (1, 1)


@pytest.mark.parametrize("kind", ["rating", "flag"])
def test_rating_and_flag_studies_get_repeat_checks(factory, kind):
    from tests.support.humaneval import seed_study as seed_simple

    with factory() as session:
        study = seed_simple(session, kind, prompts=8, attention_check_rate=0.5)
        annotator = create_simulated_annotator(session, study)
        rng = np.random.default_rng(5)
        now = utcnow()
        while (task := next_assignment(session, annotator, now=now, rng=rng)) is not None:
            answer = {"rating": 4} if kind == "rating" else {"flags": []}
            if task.check_kind == "degraded":
                answer = {"rating": 1} if kind == "rating" else {"flags": ["artifacts"]}
            submit_vote(session, annotator, task.public_id, now=now, **answer)
            now += timedelta(seconds=2)
        repeats = session.scalars(
            select(Assignment).where(
                Assignment.study_id == study.id, Assignment.check_kind == "repeat"
            )
        ).all()
        assert repeats
        for repeat in repeats:
            original = session.get(Assignment, repeat.repeat_of_id)
            assert (repeat.image_id, repeat.generator_id) == (
                original.image_id,
                original.generator_id,
            )
        figures = exclusion_statuses(session, study)[0][annotator.handle]
        assert figures["n_repeat"] == len(repeats) and figures["repeat_consistency"] == 1.0
