"""app/stats must stay pure numpy/scipy: importing any module pulls in no web, DB or torch code."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.stats

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "torch", "pandas")
MODULES = ["app.stats"] + [f"app.stats.{m.name}" for m in pkgutil.iter_modules(app.stats.__path__)]


def test_every_module_is_listed():
    assert {
        "app.stats.bradley_terry",
        "app.stats.agreement",
        "app.stats.io",
        "app.stats.mos",
    } <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_web_db_or_torch(module):
    code = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
