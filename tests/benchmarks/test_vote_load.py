"""benchmarks/vote_load.py at small scale: the project and the minimal endpoint under load on
two server processes, a study with votes already cast, a kill -9 of one server process mid-run;
every acknowledged vote is stored exactly once."""

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


def test_kill_mid_run_loses_no_acknowledged_vote_and_duplicates_none(_postgres_schema):
    module = _load()
    result = module.run_suite(
        seconds=4,
        warmup=1,
        workers=2,
        concurrency=(6,),
        existing_votes=1500,
        kill_clients=12,
        prompts=300,
        floor=True,
        # Each try of a point votes for 10 s of warm-up too: this small study would run out of
        # items if a point were measured again (measure() has tests of its own).
        uneven_reruns=0,
    )
    print(module.report(result))
    points = result["points"]
    assert {(p["mode"], p.get("study")) for p in points} == {
        ("project", "empty"),
        ("project", "voted"),
        ("minimal", None),
        ("floor", None),
    }
    assert all(p["n_errors"] == 0 and p["requests"] > 0 for p in points), points
    killed = [p for p in points if p.get("killed_pid")]
    assert len(killed) == 1 and killed[0]["resent_after_lost_connection"] > 0
    assert result["statements_per_cycle"]["max"] <= 3  # on PostgreSQL (six on SQLite)
    # PostgreSQL runs on this machine: each statement of the cycle has its backend CPU time,
    # named by the writes it makes.
    measured = result["statements_per_cycle"]["postgres_cpu_us"]
    assert set(measured) == {
        "UPDATE assignments + INSERT INTO votes + UPDATE annotators",
        "DELETE FROM study_slots",
        "INSERT INTO assignments + INSERT INTO image_tokens",
    }, measured
    assert all(us >= 0 for us in measured.values()), measured
    check = result["exactly_once"]
    assert check["acknowledged"] == check["stored"] > 0
    assert check["lost"] == check["changed"] == check["duplicates"] == 0
    assert check["overfilled_items"] == check["item_twice_to_one_annotator"] == 0
