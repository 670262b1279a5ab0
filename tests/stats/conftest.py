"""Fixtures for the statistics tests: the peers' reference files (tests/fixtures/arena) and the battle log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.stats.io import read_battles

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arena"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    # They ship with the repository: a missing file is a broken checkout, never a skip.
    assert FIXTURES.is_dir(), f"reference fixtures not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def ratings_ref(fixtures: Path) -> dict:
    return json.loads((fixtures / "ratings_small.json").read_text())


@pytest.fixture(scope="session")
def battles_small(fixtures: Path):
    return read_battles(fixtures / "battles_small.csv")
