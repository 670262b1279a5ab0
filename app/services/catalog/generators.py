"""Generators: the models under evaluation and their sampling settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.models import Batch, Generator, Image, MetricResult, Study, study_generators
from app.services.lookup import get_by_ref


def create_generator(session: Session, **fields: Any) -> Generator:
    if session.scalar(select(Generator.id).where(Generator.name == fields["name"])) is not None:
        raise Conflict(f"a generator named {fields['name']!r} already exists")
    generator = Generator(**fields)
    session.add(generator)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a generator named {fields['name']!r} already exists") from None
    return generator


def list_generators(session: Session) -> list[Generator]:
    return list(session.scalars(select(Generator).order_by(Generator.id)))


def get_generator(session: Session, ref: str | int) -> Generator:
    """Look up by numeric id or by name."""
    return get_by_ref(session, Generator, ref, "generator", "/api/generators")


def update_generator(session: Session, generator: Generator, **changes: Any) -> Generator:
    new_name = changes.get("name")
    if (
        new_name
        and new_name != generator.name
        and session.scalar(select(Generator.id).where(Generator.name == new_name)) is not None
    ):
        raise Conflict(f"a generator named {new_name!r} already exists")
    for key, value in changes.items():
        setattr(generator, key, value)
    session.flush()
    return generator


def image_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Image.generator_id, func.count())
        .where(Image.generator_id.is_not(None))
        .group_by(Image.generator_id)
    )
    return {gid: n for gid, n in rows}


def delete_generator(session: Session, generator: Generator) -> None:
    """Delete a generator nothing refers to; Conflict (409) says what still uses it."""
    images = session.scalar(select(func.count()).where(Image.generator_id == generator.id))
    batches = session.scalar(select(func.count()).where(Batch.generator_id == generator.id))
    studies = list(
        session.scalars(
            select(Study.name)
            .join(study_generators, study_generators.c.study_id == Study.id)
            .where(study_generators.c.generator_id == generator.id)
        )
    )
    metrics = session.scalar(select(func.count()).where(MetricResult.generator_id == generator.id))
    uses = []
    if images or batches:
        uses.append(f"{images} image(s) in {batches} batch(es)")
    if studies:
        uses.append(f"studies {', '.join(map(repr, studies[:5]))}")
    if metrics:
        uses.append(f"{metrics} metric result(s)")
    if uses:
        raise Conflict(
            f"generator {generator.name!r} is in use ({'; '.join(uses)}); only an unused "
            "generator can be deleted"
        )
    session.delete(generator)
    session.flush()
