"""Seeding "the tiny art gallery": catalogue, uploads and the metric jobs, on a fresh database.

Everything goes through the same services as the API (validation, media store, job queue), so
the demo exercises the product rather than a shortcut around it.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import make_engine, make_session_factory
from app.demo import gallery
from app.media import MediaStore
from app.migrate import upgrade
from app.models import Job
from app.models.enums import JobStatus, StudyKind
from app.services.api_keys import create_api_key
from app.services.catalog.generators import create_generator
from app.services.catalog.prompts import PromptRow, create_prompt_set
from app.services.catalog.reference_sets import create_reference_set
from app.services.planner import analyze
from app.services.studies.invites import create_invites
from app.services.studies.renditions import prepare_study
from app.services.studies.schemas import StudyCreate
from app.services.studies.study import create_study, open_study
from app.services.uploads import files_from_bytes, store_batch
from app.settings import Settings

MARKER = ".arena-demo"

# Sampling settings shown next to every score; the artists are transformations of photographs,
# so these describe the "generator" honestly rather than pretending to be diffusion models.
ARTISTS = {
    "artist-a": {
        "description": "Mode collapse: one cat crop with a few pixels of jitter (beautiful, identical).",
        "sampler": "crop-jitter",
        "resolution": f"{gallery.SIZE}x{gallery.SIZE}",
        "extra": {
            "transformation": "artist_a_mode_collapse",
            "simulated_generator": True,
        },
    },
    "artist-b": {
        "description": "Diverse but messy: every subject, blurred, noised, colour-shifted, JPEG q5-15.",
        "sampler": "crop-degrade",
        "resolution": f"{gallery.SIZE}x{gallery.SIZE}",
        "extra": {"transformation": "artist_b_messy", "simulated_generator": True},
    },
    "artist-c": {
        "description": "Good and diverse: fresh crops of every subject, mild colour jitter, JPEG q90.",
        "sampler": "crop-jitter",
        "resolution": f"{gallery.SIZE}x{gallery.SIZE}",
        "extra": {"transformation": "artist_c_good", "simulated_generator": True},
    },
    **{
        f"artist-d-cfg{guidance:g}": {
            "description": (
                f"Artist D at guidance {guidance:g}: more guidance, cleaner and more saturated "
                "images of fewer subjects."
            ),
            "sampler": "crop-guided",
            "guidance_scale": guidance,
            "family": "artist-d",
            "family_setting": "guidance_scale",
            "resolution": f"{gallery.SIZE}x{gallery.SIZE}",
            "extra": {"transformation": "artist_d_guided", "simulated_generator": True},
        }
        for guidance in gallery.GUIDANCE_SCALES
    },
}


@dataclass(frozen=True)
class DemoSizes:
    """How many images each set gets; the defaults keep seeding to a few minutes on 2 cores."""

    reference_per_photo: int = 12
    artist_a: int = 24
    artist_b_per_photo: int = 4
    artist_c_per_photo: int = 4
    artist_d_per_photo: int = 2  # per guidance scale
    simulated_raters: int = 8


@dataclass(frozen=True)
class DemoStudy:
    name: str
    kind: str
    public_id: str
    invite_url: str  # for a real person; simulated raters never use links
    leaderboard_url: str
    simulated_votes: int


STUDIES = (
    {
        "name": "gallery-preference",
        "kind": StudyKind.pairwise,
        "question": "Which image better matches the prompt and looks better?",
    },
    {
        "name": "gallery-quality",
        "kind": StudyKind.rating,
        "question": "How good is this image?",
    },
)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def prepare_directory(directory: Path, port: int) -> Settings:
    """A fresh demo folder (an earlier demo in it is replaced; anything else is refused)."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise FileExistsError(
                f"{directory} exists and is not an earlier demo folder; pick another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by `arena demo`; safe to delete\n")
    return Settings(
        database_url=f"sqlite:///{directory / 'arena.db'}",
        media_dir=directory / "media",
        secret_key_file=directory / "secret.key",
        base_url=f"http://127.0.0.1:{port}",
    )


def seed_catalogue(settings: Settings, sizes: DemoSizes) -> str:
    """Migrate, then create the admin key, prompts, reference set and artists; returns the key."""
    upgrade(settings)
    store = MediaStore(settings.media_dir)
    photos = gallery.load_photographs()
    with _session(settings) as session:
        _row, key = create_api_key(session, "demo admin")
        prompt_set = create_prompt_set(
            session,
            "tiny-art-gallery",
            [PromptRow(**row) for row in gallery.prompts()],
            description="What each scikit-image photograph shows.",
        )
        reference = create_reference_set(
            session,
            "gallery-photographs",
            "Crops and mirror images of real photographs.",
        )
        session.commit()
        real = gallery.reference_images(photos, sizes.reference_per_photo)
        _upload(session, store, settings, real, None, reference_set=reference)
        made = {
            "artist-a": gallery.artist_a_mode_collapse(photos, sizes.artist_a),
            "artist-b": gallery.artist_b_messy(photos, sizes.artist_b_per_photo),
            "artist-c": gallery.artist_c_good(photos, sizes.artist_c_per_photo),
            **{
                f"artist-d-cfg{guidance:g}": gallery.artist_d_guided(
                    photos, sizes.artist_d_per_photo, guidance
                )
                for guidance in gallery.GUIDANCE_SCALES
            },
        }
        for name, images in made.items():
            generator = create_generator(session, name=name, **ARTISTS[name])
            session.commit()
            _upload(session, store, settings, images, prompt_set, generator=generator)
    return key


def _upload(session, store, settings, images, prompt_set, **owner) -> None:
    files = files_from_bytes((image.name, image.png) for image in images)
    # Real images carry no prompt; generated ones are mapped to the prompt they answer.
    manifest = {image.name: image.prompt_id for image in images} if prompt_set else None
    store_batch(
        session,
        store,
        settings,
        files=files,
        manifest=manifest,
        prompt_set=prompt_set,
        **owner,
    )
    session.commit()


def _job_counts(session: Session) -> tuple[int, int]:
    done = session.scalar(
        select(func.count()).where(Job.status.in_((JobStatus.done, JobStatus.failed)))
    )
    total = session.scalar(select(func.count()).select_from(Job))
    return done, total


def job_counts(settings: Settings) -> tuple[int, int]:
    """(finished, all) jobs: the progress of seeding's feature extraction and metrics."""
    with _session(settings) as session:
        return _job_counts(session)


def failed_jobs(settings: Settings) -> list[tuple[str, str, str]]:
    """(kind, scope, last error) of every job that failed for good."""
    with _session(settings) as session:
        return [
            (kind, scope, error or "")
            for kind, scope, error in session.execute(
                select(Job.kind, Job.scope, Job.error).where(Job.status == JobStatus.failed)
            )
        ]


def run_jobs(settings: Settings, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Drain the queue with an in-process worker; report (finished, all) jobs while it runs."""
    from workers.runner import run_until_idle

    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["processed"] = run_until_idle(settings)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="demo-worker", daemon=True)
    thread.start()
    with _session(settings) as session:  # one connection for all the polling
        while thread.is_alive():
            if on_progress:
                on_progress(*_job_counts(session))
                session.rollback()  # end the read transaction: the next poll sees new rows
            thread.join(timeout=0.5)
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        if on_progress:
            on_progress(*_job_counts(session))
    return int(outcome["processed"])  # type: ignore[arg-type]


def seed_studies(settings: Settings, sizes: DemoSizes) -> list[DemoStudy]:
    """Open a pairwise and a rating study over the three artists, let simulated raters answer,
    and leave room (two more raters per item) and an invite link for a real person."""
    from app.demo.simulate import default_raters, simulate_study

    made = []
    with _session(settings) as session:
        for number, spec in enumerate(STUDIES):
            body = StudyCreate(
                **spec,
                generators=list(ARTISTS),
                raters_per_item=sizes.simulated_raters + 2,
                attention_check_rate=0.1,
                # Attention checks put a real photograph against its degraded copy.
                reference_set="gallery-photographs",
                is_public=True,
                instructions=(
                    "The tiny art gallery: 'artists' made these images from real "
                    "photographs. Judge only what you see; there are no right answers, "
                    "except on a few attention checks."
                ),
            )
            study = create_study(session, body)
            open_study(session, study)
            prepare_study(session, MediaStore(settings.media_dir), study)
            session.commit()
            votes = simulate_study(
                session,
                study,
                default_raters(sizes.simulated_raters),
                seed=11 + number,
            )
            ((_annotator, url),) = create_invites(session, study, 1, settings.base_url)
            session.commit()
            made.append(
                DemoStudy(
                    study.name,
                    study.kind,
                    study.public_id,
                    url,
                    f"{settings.base_url.rstrip('/')}/studies/{study.public_id}/leaderboard",
                    votes,
                )
            )
        # Seeded in bulk: the planner's statistics must not describe empty tables.
        analyze(session)
        session.commit()
    return made
