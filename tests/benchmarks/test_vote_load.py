"""benchmarks/vote_load.py at small scale: concurrent annotators against `arena serve` on
PostgreSQL, SIGKILL mid-run, restart; every acknowledged vote is stored exactly once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vote_load.py"


def _load():
    spec = importlib.util.spec_from_file_location("vote_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["vote_load"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_sigkill_mid_run_loses_no_acknowledged_vote_and_duplicates_none(_postgres_schema):
    result = _load().run(
        _postgres_schema, annotators=24, votes_per_annotator=6, kill_after=40, max_seconds=150
    )
    print(result)
    assert result["killed_at_votes"] is not None and result["killed_at_votes"] >= 40
    assert result["connection_errors"] > 0  # the kill really cut clients off
    assert result["client_errors"] == [] and result["unfinished_clients"] == 0
    assert result["acknowledged"] == 24 * 6
    assert result["lost"] == 0 and result["changed"] == 0
    assert result["duplicates"] == 0 and result["overfilled_items"] == 0
    assert result["votes_stored"] == result["acknowledged"] + result["unacknowledged_stored"]
