"""Reference sets: the real images automatic metrics compare against."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.models import Batch, Image, MetricResult, ReferenceSet
from app.services.lookup import get_by_ref


def create_reference_set(session: Session, name: str, description: str = "") -> ReferenceSet:
    if session.scalar(select(ReferenceSet.id).where(ReferenceSet.name == name)) is not None:
        raise Conflict(f"a reference set named {name!r} already exists")
    reference_set = ReferenceSet(name=name, description=description)
    session.add(reference_set)
    session.flush()
    return reference_set


def list_reference_sets(session: Session) -> list[ReferenceSet]:
    return list(session.scalars(select(ReferenceSet).order_by(ReferenceSet.id)))


def get_reference_set(session: Session, ref: str | int) -> ReferenceSet:
    """Look up by numeric id or by name."""
    return get_by_ref(session, ReferenceSet, ref, "reference set", "/api/reference-sets")


def delete_reference_set(session: Session, reference_set: ReferenceSet) -> None:
    """Delete a reference set nothing refers to; Conflict (409) says what still uses it."""
    ref_id = reference_set.id
    images = session.scalar(select(func.count()).where(Image.reference_set_id == ref_id))
    batches = session.scalar(select(func.count()).where(Batch.reference_set_id == ref_id))
    metrics = session.scalar(select(func.count()).where(MetricResult.reference_set_id == ref_id))
    uses = []
    if images or batches:
        uses.append(f"{images} image(s) in {batches} batch(es)")
    if metrics:
        uses.append(f"{metrics} metric result(s)")
    if uses:
        raise Conflict(
            f"reference set {reference_set.name!r} is in use ({'; '.join(uses)}); only an "
            "unused reference set can be deleted"
        )
    session.delete(reference_set)
    session.flush()
