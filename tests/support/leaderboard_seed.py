"""A seeded study for leaderboard tests: real stored images, votes cast through the services by
simulated annotators (three careful, one who always clicks "left" at once), attention checks,
and metric results of every kind (numbers, unavailable with a reason, missing, still queued)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.media import MediaStore
from app.models import (
    Batch,
    Generator,
    Image,
    Job,
    MetricResult,
    Prompt,
    PromptSet,
    ReferenceSet,
    Study,
    utcnow,
)
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_simulated_annotator
from app.services.studies.schemas import StudyCreate
from app.services.studies.study import create_study, open_study
from app.services.studies.votes import submit_vote

# Human strength on the logit scale; the metrics below agree with it, mostly.
STRENGTH = {"aurora": 1.0, "brook": 0.5, "cinder": 0.0, "dune": -0.4, "ember": -1.0}
CLIP_REASON = "no CLIP weights: set ARENA_CLIP_PRETRAINED to a local open_clip checkpoint"


@dataclass
class Seeded:
    study: Study
    generators: list[Generator]
    reference_set: ReferenceSet


def _png(seed: int, size: int = 32) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _store_image(session: Session, store: MediaStore, batch: Batch, seed: int, **owner) -> Image:
    data = _png(seed)
    sha = hashlib.sha256(data).hexdigest()
    store.put(session, sha, data, data)
    image = Image(
        batch_id=batch.id,
        sha256=sha,
        width=32,
        height=32,
        byte_size=len(data),
        format="PNG",
        **owner,
    )
    session.add(image)
    return image


def seed_catalogue(
    session: Session, store: MediaStore, prompts: int = 5, family: str | None = None
) -> tuple[list[Generator], PromptSet, ReferenceSet]:
    prompt_set = PromptSet(name="leaderboard-prompts")
    prompt_set.prompts = [
        Prompt(external_id=f"p{k}", text=f"a painting of scene {k}") for k in range(prompts)
    ]
    session.add(prompt_set)
    generators = [
        Generator(
            name=name,
            guidance_scale=7.5 - i,
            steps=20 + 5 * i,
            sampler="euler",
            resolution="32x32",
            # One model swept over guidance scales, when a test asks for a family.
            family=family,
            family_setting="guidance_scale" if family else None,
        )
        for i, name in enumerate(STRENGTH)
    ]
    reference = ReferenceSet(name="real-photos")
    session.add_all([*generators, reference])
    session.flush()
    for g, generator in enumerate(generators):
        batch = Batch(generator_id=generator.id, n_images=prompts)
        session.add(batch)
        session.flush()
        for p, prompt in enumerate(prompt_set.prompts):
            _store_image(
                session,
                store,
                batch,
                100 * g + p,
                generator_id=generator.id,
                prompt_id=prompt.id,
            )
    batch = Batch(reference_set_id=reference.id, n_images=6)
    session.add(batch)
    session.flush()
    for r in range(6):
        _store_image(session, store, batch, 10_000 + r, reference_set_id=reference.id)
    session.flush()
    return generators, prompt_set, reference


def seed_metrics(session: Session, generators: list[Generator], reference: ReferenceSet) -> None:
    """FID/KID/PRDC/IS numbers that track the human strength, CLIP-based metrics unavailable,
    diversity never computed, and one generator with a metrics job still queued."""
    for g, generator in enumerate(generators):
        s = STRENGTH[generator.name]
        common = {
            "generator_id": generator.id,
            "reference_set_id": reference.id,
            "n_gen": 5,
            "n_real": 6,
            "extractor": "inception-fid:1",
            "preprocessing": "resize 299 bicubic antialias",
        }
        fid_warning = ["FID on 5 generated images (< 10,000) is strongly biased upwards"]
        session.add_all(
            [
                # Brook's FID is worse than cinder's: metric and humans disagree on one pair.
                MetricResult(
                    metric="fid",
                    value=40.0 - 10 * s + (6.0 if g == 1 else 0.0),
                    warnings=fid_warning,
                    **common,
                ),
                MetricResult(
                    metric="kid",
                    value=0.02 - 0.01 * s,
                    std=0.003 + 0.0001 * g,
                    parameters={"subsets": 100, "subset_size": 5, "seed": 11},
                    **common,
                ),
                MetricResult(metric="precision", value=0.6 + 0.1 * s, **common),
                MetricResult(metric="recall", value=0.5 - 0.05 * g, **common),
                MetricResult(metric="density", value=0.9 + 0.1 * s, **common),
                MetricResult(metric="coverage", value=0.7 + 0.05 * s, **common),
                MetricResult(
                    metric="clip_score",
                    status="unavailable",
                    reason=CLIP_REASON,
                    generator_id=generator.id,
                    reference_set_id=reference.id,
                ),
                MetricResult(
                    metric="cmmd",
                    status="unavailable",
                    reason=CLIP_REASON,
                    generator_id=generator.id,
                    reference_set_id=reference.id,
                ),
                MetricResult(
                    metric="inception_score",
                    value=3.0 + s - 0.2 * g,
                    std=0.1,
                    generator_id=generator.id,
                    reference_set_id=reference.id,
                    n_gen=5,
                    parameters={"splits": 10},
                ),
            ]
        )
    last = generators[-1]
    session.add(
        Job(
            kind="compute_metrics",
            scope=f"metrics:{last.id}:{reference.id}",
            status="queued",
            payload={"generator_id": last.id, "reference_set_id": reference.id},
        )
    )
    session.flush()


def cast_votes(
    session: Session, study: Study, *, seed: int = 0, careful: int = 3, lazy: int = 1
) -> None:
    """Simulated annotators answer until the study has nothing left for them."""
    rng = np.random.default_rng(seed)
    people = [(create_simulated_annotator(session, study), False) for _ in range(careful)]
    people += [(create_simulated_annotator(session, study), True) for _ in range(lazy)]
    names = {g.id: g.name for g in study.generators}
    now = utcnow() - timedelta(hours=2)
    active = list(people)
    while active:
        for entry in list(active):
            annotator, is_lazy = entry
            assignment = next_assignment(session, annotator, now=now, rng=rng)
            if assignment is None:
                active.remove(entry)
                continue
            answer: dict = {}
            if study.kind == "pairwise":
                if is_lazy:
                    answer["choice"] = "left"
                elif assignment.expected_choice is not None:
                    answer["choice"] = assignment.expected_choice
                else:
                    left = STRENGTH[names[assignment.generator_left_id]]
                    right = STRENGTH[names[assignment.generator_right_id]]
                    u = rng.random()
                    p_left = 1 / (1 + np.exp(right - left))
                    answer["choice"] = (
                        "tie" if u > 0.9 else ("left" if u < 0.9 * p_left else "right")
                    )
            elif study.kind == "rating":
                if is_lazy:
                    answer["rating"] = 5
                elif assignment.check_kind == "degraded":
                    answer["rating"] = 1
                else:
                    strength = STRENGTH[names[assignment.generator_id]]
                    answer["rating"] = int(
                        np.clip(round(3 + 1.5 * strength + rng.normal(0, 0.6)), 1, 5)
                    )
            else:
                options = list(study.flag_options)
                if is_lazy:
                    answer["flags"] = []
                elif assignment.check_kind == "degraded":
                    answer["flags"] = ["artifacts"]
                else:
                    strength = STRENGTH[names[assignment.generator_id]]
                    answer["flags"] = [
                        o for o in options[:3] if rng.random() < 0.4 - 0.25 * strength
                    ]
            seconds = 0.3 if is_lazy else 2.0 + rng.random() * 4
            submit_vote(
                session,
                annotator,
                assignment.public_id,
                now=now + timedelta(seconds=seconds),
                **answer,
            )
            now += timedelta(seconds=seconds + 1)
    session.flush()


def seed_leaderboard_study(
    session: Session,
    store: MediaStore,
    *,
    kind: str = "pairwise",
    public: bool = False,
    seed: int = 0,
    attention_check_rate: float = 0.15,
    family: str | None = None,
) -> Seeded:
    generators, prompt_set, reference = seed_catalogue(session, store, family=family)
    seed_metrics(session, generators, reference)
    study = create_study(
        session,
        StudyCreate(
            name=f"{kind}-leaderboard",
            kind=kind,
            generators=[g.name for g in generators],
            prompt_set=prompt_set.name,
            attention_check_rate=attention_check_rate,
            is_public=public,
            max_vote_share=1.0,
        ),
    )
    open_study(session, study)
    cast_votes(session, study, seed=seed)
    return Seeded(study, generators, reference)
