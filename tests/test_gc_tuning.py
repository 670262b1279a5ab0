"""app/gc_tuning.py, in a process of its own (freezing this test process would pin its tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import gc
from app import gc_tuning

before = gc.get_threshold()
gc_tuning.settle()
assert gc.get_freeze_count() == 0, "settle must do nothing unless tuned for serving"
assert gc.get_threshold() == before

gc_tuning.tune_for_serving()
assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, *before[1:]), gc.get_threshold()
frozen = gc.get_freeze_count()
assert frozen > 0

cache = {str(k): (k, [k]) for k in range(20_000)}  # a long-lived structure, as a study pool
cycle = []
cycle.append(cycle)  # unreachable garbage: collected, not frozen
del cycle
gc_tuning.settle()
assert gc.get_freeze_count() >= frozen + 20_000, (frozen, gc.get_freeze_count())
assert gc.get_count()[0] < 100  # what was left young is now frozen
print("ok")
"""


def test_serving_processes_freeze_long_lived_data_and_collect_young_objects_less_often():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(("given", "expected"), [(None, True), ("false", False)])
def test_arena_serve_turns_it_on_unless_told_otherwise(monkeypatch, tmp_path, given, expected):
    import uvicorn
    from typer.testing import CliRunner

    from app.cli.main import app
    from app.settings import Settings

    monkeypatch.setenv("ARENA_DATABASE_URL", f"sqlite:///{tmp_path / 'arena.db'}")
    monkeypatch.setenv("ARENA_SECRET_KEY", "x")
    if given is None:
        monkeypatch.delenv("ARENA_GC_TUNING", raising=False)
    else:
        monkeypatch.setenv("ARENA_GC_TUNING", given)
    seen = {}
    # What the worker processes will read: the environment when uvicorn starts them.
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(tuning=Settings().gc_tuning))
    result = CliRunner().invoke(app, ["serve", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert seen == {"tuning": expected}
