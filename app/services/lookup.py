"""Find a named row by numeric id or by name, with a 404 that says where to look."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound

T = TypeVar("T")


def get_by_ref(session: Session, model: type[T], ref: str | int, label: str, listing: str) -> T:
    if isinstance(ref, int) or str(ref).isdigit():
        row = session.get(model, int(ref))
    else:
        row = session.scalar(select(model).where(model.name == ref))  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"no {label} {ref!r}; list them with GET {listing}")
    return row
