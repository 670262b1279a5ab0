"""Layering: the import-linter contracts in pyproject.toml hold, and the numeric core stays pure
at run time too (a dynamic import would escape the static graph)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import app.metrics
import app.stats

ROOT = Path(__file__).resolve().parents[1]
# What a researcher using app.stats / app.metrics as a library must not be made to install or load.
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "torch", "pandas", "sklearn", "matplotlib")


def _modules(package) -> list[str]:
    return [package.__name__] + [
        f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
    ]


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_numeric_core_loads_no_web_db_or_torch_at_run_time():
    modules = _modules(app.stats) + _modules(app.metrics)
    assert {"app.stats.bradley_terry", "app.stats.agreement", "app.metrics.frechet"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"the numeric core loads {out.stdout.strip()}"
