"""Fixtures for the statistics tests: the shared reference files and the battle log."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.stats.io import read_battles

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "arena"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        # CI always lays shared/ beside the checkout: there a missing fixture is a failure.
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference fixtures not found at {FIXTURES}")
        pytest.skip(f"reference fixtures not found at {FIXTURES} (they live in the shared checkout)")
    return FIXTURES


@pytest.fixture(scope="session")
def ratings_ref(fixtures: Path) -> dict:
    return json.loads((fixtures / "ratings_small.json").read_text())


@pytest.fixture(scope="session")
def battles_small(fixtures: Path):
    return read_battles(fixtures / "battles_small.csv")
