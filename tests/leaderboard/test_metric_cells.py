"""Metric cells of the leaderboard: stored numbers, unavailable reasons, pending jobs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.leaderboard.metric_cells import (
    choose_reference_set,
    metric_cells,
    metric_results_table,
)
from app.models import Generator, Job, MetricResult, ReferenceSet


def _setup(session: Session):
    gens = [Generator(name=n, guidance_scale=7.5, steps=30) for n in ("sd", "flux", "new")]
    refs = [ReferenceSet(name="coco"), ReferenceSet(name="other")]
    session.add_all(gens + refs)
    session.flush()
    sd, flux, new = gens
    coco, other = refs
    session.add_all(
        [
            MetricResult(
                generator_id=sd.id,
                reference_set_id=coco.id,
                metric="fid",
                value=12.5,
                n_gen=50,
                n_real=60,
                extractor="inception-fid:1",
                warnings=["FID on 50 < 10,000 images is biased upwards"],
            ),
            MetricResult(
                generator_id=sd.id,
                reference_set_id=coco.id,
                metric="kid",
                value=0.01,
                std=0.002,
                n_gen=50,
                n_real=60,
                parameters={"subsets": 100, "seed": 7},
            ),
            MetricResult(
                generator_id=sd.id,
                reference_set_id=coco.id,
                metric="clip_score",
                status="unavailable",
                reason="no CLIP weights (set ARENA_CLIP_PRETRAINED)",
            ),
            MetricResult(
                generator_id=sd.id,
                reference_set_id=None,
                metric="clip_score",
                value=31.0,
            ),
            MetricResult(
                generator_id=sd.id,
                reference_set_id=None,
                metric="inception_score",
                value=9.5,
            ),
            MetricResult(
                generator_id=flux.id,
                reference_set_id=other.id,
                metric="fid",
                value=99.0,
            ),
            MetricResult(generator_id=flux.id, reference_set_id=coco.id, metric="fid", value=8.0),
        ]
    )
    session.add_all(
        [
            Job(kind="extract_features", scope=f"generator:{new.id}", status="queued"),
            Job(kind="extract_features", scope=f"generator:{new.id}", status="running"),
            Job(
                kind="compute_metrics",
                scope=f"metrics:{new.id}:{coco.id}",
                status="queued",
            ),
            Job(
                kind="compute_metrics",
                scope=f"metrics:{sd.id}:{coco.id}",
                status="done",
            ),
            Job(
                kind="compute_metrics",
                scope=f"metrics:{flux.id}:{other.id}",
                status="queued",
            ),
        ]
    )
    session.flush()
    return gens, refs


def test_cells_carry_numbers_reasons_and_queued_jobs(session):
    (sd, flux, new), (coco, other) = _setup(session)
    assert choose_reference_set(session, [sd.id, flux.id, new.id], None).id == coco.id
    cells = metric_cells(session, [sd.id, flux.id, new.id], coco.id)
    fid = cells[sd.id]["fid"]
    assert fid.state == "ok" and fid.value == 12.5 and fid.n_gen == 50 and fid.n_real == 60
    assert fid.warnings == ["FID on 50 < 10,000 images is biased upwards"]
    assert cells[sd.id]["kid"].std == 0.002 and cells[sd.id]["kid"].parameters["seed"] == 7
    # The reference set's row wins over the reference-free row, and says why there is no number.
    clip = cells[sd.id]["clip_score"]
    assert clip.state == "unavailable"
    assert clip.note == "unavailable: no CLIP weights (set ARENA_CLIP_PRETRAINED)"
    assert cells[sd.id]["inception_score"].value == 9.5
    assert cells[sd.id]["cmmd"].state == "missing"
    assert cells[flux.id]["fid"].value == 8.0  # not the other reference set's 99.0
    waiting = cells[new.id]["fid"]
    assert waiting.state == "waiting" and waiting.note == "waiting: 3 jobs queued"
    # Another reference set: flux has a metrics job queued there.
    other_cells = metric_cells(session, [flux.id], other.id)
    assert other_cells[flux.id]["fid"].value == 99.0
    assert other_cells[flux.id]["fid"].note == "updating: 1 job queued"


def test_without_a_reference_set_reference_metrics_say_so(session):
    gen = Generator(name="solo")
    session.add(gen)
    session.flush()
    assert choose_reference_set(session, [gen.id], None) is None
    cells = metric_cells(session, [gen.id], None)
    assert cells[gen.id]["fid"].note == "unavailable: no reference set of real images uploaded"
    assert cells[gen.id]["clip_score"].state == "missing"


def test_metric_results_table_is_the_stored_rows(session):
    (sd, flux, _new), (coco, _other) = _setup(session)
    every = metric_results_table(session, [sd.id, flux.id])
    assert len(every) == 7
    coco_only = metric_results_table(session, [sd.id, flux.id], coco.id)
    assert {(r["generator"], r["reference_set"], r["metric"]) for r in coco_only} == {
        ("sd", "coco", "fid"),
        ("sd", "coco", "kid"),
        ("sd", "coco", "clip_score"),
        ("sd", None, "clip_score"),
        ("sd", None, "inception_score"),
        ("flux", "coco", "fid"),
    }
    kid = next(r for r in coco_only if r["metric"] == "kid")
    assert kid["lower_is_better"] is True and kid["parameters"] == {
        "subsets": 100,
        "seed": 7,
    }


def test_a_reference_set_job_is_counted_once_in_the_total(session):
    from app.leaderboard.metric_cells import pending_jobs, pending_total

    (sd, flux, new), (coco, _other) = _setup(session)
    session.add(Job(kind="extract_features", scope=f"reference_set:{coco.id}", status="running"))
    session.flush()
    per_generator = pending_jobs(session, [sd.id, flux.id, new.id], coco.id)
    # Every generator waits for the reference set's extraction; the study waits for 4 jobs.
    assert per_generator == {sd.id: 1, flux.id: 1, new.id: 4}
    assert pending_total(session, [sd.id, flux.id, new.id], coco.id) == 4
