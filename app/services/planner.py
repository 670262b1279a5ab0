"""Planner statistics: refreshed after seeding and bulk imports."""

from __future__ import annotations

from sqlalchemy.orm import Session


def analyze(session: Session, *tables: str) -> None:
    """Refresh the planner's statistics (after seeding or a bulk import: a planner that still
    believes a table is empty picks sequential scans). No tables: the whole database."""
    from sqlalchemy import text

    for table in tables or ("",):
        if table and not table.replace("_", "").isalnum():
            raise ValueError(f"not a table name: {table!r}")
        session.execute(text(f"ANALYZE {table}".strip()))
