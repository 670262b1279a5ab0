"""Find a named row by numeric id or by name, with a 404 that says where to look."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.validation import MAX_ID, check_text, is_row_id

T = TypeVar("T")


def get_by_ref(session: Session, model: type[T], ref: str | int, label: str, listing: str) -> T:
    if isinstance(ref, int) or is_row_id(ref):
        row = session.get(model, int(ref)) if 0 < int(ref) <= MAX_ID else None
    elif str(ref).isascii() and str(ref).isdigit():
        row = None  # beyond the id range: no such row (and a query would overflow the column)
    else:
        check_text(ref, f"the {label} name")
        row = session.scalar(select(model).where(model.name == ref))  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"no {label} {ref!r}; list them with GET {listing}")
    return row
