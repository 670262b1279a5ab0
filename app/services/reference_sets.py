"""Reference sets: the real images automatic metrics compare against."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.models import ReferenceSet
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
