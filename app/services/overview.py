"""What a researcher sees first: every study at a glance, and one prompt across all generators.

Researcher-only reads: generator names and stable image ids appear here, never on a page an
annotator can open (their task images come through per-showing tokens, app/services/studies/task_images).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import Image, Job, Prompt, Study, Vote
from app.models.enums import JobStatus
from app.models.ops import owner_scope
from app.services.studies.study import list_studies, study_images, study_items

# Job states a researcher waits on or has to act on.
JOB_STATES = (JobStatus.queued, JobStatus.running, JobStatus.failed)


@dataclass(frozen=True)
class StudySummary:
    public_id: str
    name: str
    kind: str
    status: str
    is_public: bool
    question: str
    generators: int
    votes: int
    planned_votes: int  # items x raters_per_item
    jobs: dict[str, int]  # queued / running / failed jobs of the study's generators

    @property
    def progress(self) -> float | None:
        """Share of the planned votes cast (None when the study has no items yet)."""
        if not self.planned_votes:
            return None
        return min(1.0, self.votes / self.planned_votes)


def study_summaries(session: Session) -> list[StudySummary]:
    """Every study, newest first, with its votes, planned votes and pending jobs."""
    studies = list_studies(session)
    # Tasks answered (a task of a study with aspects holds one vote per aspect).
    answered = func.count(func.distinct(Vote.assignment_id))
    votes = dict(session.execute(select(Vote.study_id, answered).group_by(Vote.study_id)).all())
    jobs_by_scope: dict[str, Counter] = defaultdict(Counter)
    for scope, status, n in session.execute(
        select(Job.scope, Job.status, func.count())
        .where(Job.status.in_(JOB_STATES), Job.scope.is_not(None))
        .group_by(Job.scope, Job.status)
    ):
        jobs_by_scope[scope][status] += n
    summaries = []
    for study in sorted(studies, key=lambda s: s.id, reverse=True):
        jobs: Counter = Counter()
        for generator in study.generators:
            jobs.update(jobs_by_scope.get(owner_scope(generator.id, None), Counter()))
        if study.reference_set_id is not None:
            jobs.update(jobs_by_scope.get(owner_scope(None, study.reference_set_id), Counter()))
        summaries.append(
            StudySummary(
                public_id=study.public_id,
                name=study.name,
                kind=study.kind,
                status=study.status,
                is_public=study.is_public,
                question=study.question,
                generators=len(study.generators),
                votes=votes.get(study.id, 0),
                planned_votes=len(study_items(session, study)) * study.raters_per_item,
                jobs={state: jobs[state] for state in JOB_STATES if jobs[state]},
            )
        )
    return summaries


@dataclass(frozen=True)
class CompareImage:
    generator: str
    image_id: str  # the image's public id, for the researcher-only /media/{id} route
    width: int
    height: int


@dataclass(frozen=True)
class CompareView:
    """One prompt of a study and every generator's images for it, generators in study order."""

    index: int  # 0-based position of the prompt among the study's prompts
    n_prompts: int
    prompt: str | None
    columns: list[tuple[str, list[CompareImage]]] = field(default_factory=list)


def compare_view(session: Session, study: Study, index: int) -> CompareView:
    """The study's prompt number `index` (0-based) with each generator's images for it."""
    pool = study_images(session, study)
    prompt_ids = sorted({p for _i, _g, p in pool if p is not None})
    if not prompt_ids:
        raise NotFound("this study has no prompts with images yet: upload a batch first")
    if not 0 <= index < len(prompt_ids):
        raise NotFound(f"no prompt {index + 1}: this study has {len(prompt_ids)} prompts")
    prompt_id = prompt_ids[index]
    wanted = [image_id for image_id, _g, p in pool if p == prompt_id]
    images = session.scalars(select(Image).where(Image.id.in_(wanted)).order_by(Image.id)).all()
    by_generator: dict[int, list[Image]] = defaultdict(list)
    for image in images:
        by_generator[image.generator_id].append(image)
    columns = []
    for generator in sorted(study.generators, key=lambda g: g.id):
        shots = [
            CompareImage(generator.name, image.public_id, image.width, image.height)
            for image in by_generator.get(generator.id, [])
        ]
        columns.append((generator.name, shots))
    prompt = session.get(Prompt, prompt_id)
    return CompareView(
        index=index,
        n_prompts=len(prompt_ids),
        prompt=prompt.text if prompt else None,
        columns=columns,
    )


@dataclass(frozen=True)
class SampleImage:
    image_id: str  # public id, for the researcher-only /media/{id} route
    prompt: str | None
    width: int
    height: int


def sample_images(
    session: Session, study: Study, generator_id: int, count: int = 12
) -> list[SampleImage]:
    """The first `count` of a generator's images in the study's pool, with their prompts."""
    ids = [i for i, g, _p in study_images(session, study) if g == generator_id][:count]
    if not ids:
        return []
    rows = session.execute(
        select(Image.public_id, Image.width, Image.height, Prompt.text)
        .outerjoin(Prompt, Prompt.id == Image.prompt_id)
        .where(Image.id.in_(ids))
        .order_by(Image.id)
    ).all()
    return [SampleImage(public_id, text, w, h) for public_id, w, h, text in rows]
