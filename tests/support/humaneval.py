"""Seeding human-evaluation fixtures: generators, a prompt set and image rows, without HTTP."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import numpy as np
from sqlalchemy.orm import Session

from app.models import Batch, Generator, Image, Prompt, PromptSet, Study, utcnow
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_simulated_annotator
from app.services.studies.schemas import StudyCreate
from app.services.studies.study import create_study, open_study
from app.services.studies.votes import submit_vote


def seed_pool(
    session: Session, *, generators: int = 3, prompts: int = 4, prefix: str = "gen"
) -> tuple[list[Generator], PromptSet]:
    """Generators each with one image per prompt (rows only: no media files)."""
    prompt_set = PromptSet(name=f"{prefix}-prompts")
    prompt_set.prompts = [
        Prompt(external_id=f"p{k}", text=f"a test prompt number {k}") for k in range(prompts)
    ]
    session.add(prompt_set)
    gens = [Generator(name=f"{prefix}-{g}") for g in range(generators)]
    session.add_all(gens)
    session.flush()
    for gen in gens:
        batch = Batch(generator_id=gen.id, n_images=prompts)
        session.add(batch)
        session.flush()
        for prompt in prompt_set.prompts:
            digest = hashlib.sha256(f"{gen.id}:{prompt.id}".encode()).hexdigest()
            session.add(
                Image(
                    generator_id=gen.id,
                    prompt_id=prompt.id,
                    batch_id=batch.id,
                    sha256=digest,
                    width=8,
                    height=8,
                    byte_size=1,
                    format="PNG",
                )
            )
    session.flush()
    return gens, prompt_set


def seed_study(
    session: Session,
    kind: str = "pairwise",
    *,
    generators: int = 3,
    prompts: int = 4,
    **fields,
) -> Study:
    name = fields.pop("name", f"{kind}-study")
    gens, prompt_set = seed_pool(session, generators=generators, prompts=prompts, prefix=name)
    body = StudyCreate(
        name=name,
        kind=kind,
        generators=[g.name for g in gens],
        prompt_set=prompt_set.name,
        # A handful of test annotators answer everything: no vote-share cap unless asked.
        **{"attention_check_rate": 0.0, "max_vote_share": 1.0, **fields},
    )
    study = create_study(session, body)
    open_study(session, study)
    return study


ASPECTS = [
    {"key": "prompt", "question": "Which matches the prompt better?"},
    {"key": "realism", "question": "Which looks more realistic?"},
]
# True quality per aspect on the logit scale: realism ranks the generators the other way round.
TRUTH = {"prompt": [1.0, 0.0, -1.0], "realism": [-1.0, 0.0, 1.0]}


def simulate_aspects(session, kind, seed=0, prompts=24, raters=6):
    """A study asking two aspects, answered by simulated raters whose preferences follow TRUTH
    (Bradley-Terry on the logit scale for pairwise, a noisy 1-5 score for rating)."""
    study = seed_study(
        session,
        kind,
        generators=3,
        prompts=prompts,
        raters_per_item=raters,
        aspects=ASPECTS,
    )
    index = {g.id: k for k, g in enumerate(study.generators)}
    rng = np.random.default_rng(seed)
    clock = utcnow()
    for _ in range(raters):
        annotator = create_simulated_annotator(session, study)
        while (task := next_assignment(session, annotator, now=clock, rng=rng)) is not None:
            clock += timedelta(seconds=3)  # each answer takes 3 s
            answers = {}
            for key, quality in TRUTH.items():
                if kind == "pairwise":
                    gap = quality[index[task.generator_left_id]]
                    gap -= quality[index[task.generator_right_id]]
                    left = rng.random() < 1 / (1 + math.exp(-gap))
                    answers[key] = "left" if left else "right"
                else:
                    perceived = 3 + 1.5 * quality[index[task.generator_id]] + rng.normal(0, 0.8)
                    answers[key] = int(min(5, max(1, round(perceived))))
            submit_vote(session, annotator, task.public_id, aspects=answers, now=clock)
    session.flush()
    return study
