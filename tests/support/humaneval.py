"""Seeding human-evaluation fixtures: generators, a prompt set and image rows, without HTTP."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from app.models import Batch, Generator, Image, Prompt, PromptSet, Study
from app.services.studies.schemas import StudyCreate
from app.services.studies.study import create_study, open_study


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
