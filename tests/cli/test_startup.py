"""Start-up cost is paid where it is used: `arena --help` and building the web app load none of
the heavy libraries (scipy.stats, matplotlib, torch, pandas); they arrive with the first command
or page that computes with them. Asserted on the set of modules a fresh interpreter loads, not on
a timing (which depends on the machine's load)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy.stats", "matplotlib", "torch", "pandas")
# `arena --help` parses options only: no numeric, database or settings code either.
HELP_ALSO_WITHOUT = ("numpy", "scipy", "sqlalchemy", "pydantic_settings", "PIL")

PROBE = """
import io, json, sys
from contextlib import redirect_stdout

from app.cli.main import main

sys.argv = ["arena", "--help"]
out = io.StringIO()
try:
    with redirect_stdout(out):
        main()
except SystemExit as exc:
    code = exc.code
help_modules = sorted(sys.modules)

from app.main import create_app
from app.settings import Settings

tmp = {tmp!r}
create_app(Settings(
    database_url="sqlite:///" + tmp + "/arena.db",
    media_dir=tmp + "/media",
    secret_key="test-secret-key-not-for-production",
    secret_key_file=tmp + "/secret",
))
print(json.dumps({{"code": code, "help": out.getvalue(), "help_modules": help_modules,
                  "app_modules": sorted(sys.modules)}}))
"""


def _loaded(modules: list[str], names) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_help_and_app_creation_import_no_heavy_library(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(tmp=str(tmp_path))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["code"] == 0 and "metrics" in report["help"] and "serve" in report["help"]
    assert _loaded(report["help_modules"], HEAVY + HELP_ALSO_WITHOUT) == []
    # The app is built, routers and all; the heavy libraries wait for the first figure or test.
    assert "app.web.leaderboard" in report["app_modules"]
    assert _loaded(report["app_modules"], HEAVY) == []
