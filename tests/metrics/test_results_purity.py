"""MetricValue serialises to plain JSON, and app.metrics imports no web, DB or torch code."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import app.metrics
from app.metrics import MetricValue

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "torch", "pandas", "sklearn")
MODULES = ["app.metrics"] + [
    f"app.metrics.{m.name}" for m in pkgutil.iter_modules(app.metrics.__path__)
]


def test_as_dict_is_json_safe():
    value = MetricValue(
        "kid",
        np.float32(0.5),
        std=np.float64(0.1),
        n_gen=np.int64(10),
        parameters={
            "subsets": np.int64(3),
            "pair": (1, 2),
            "seed": np.uint32(7),
            "flag": np.bool_(True),
        },
        warnings=["w"],
    )
    data = value.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "metric",
        "value",
        "std",
        "ci_low",
        "ci_high",
        "n_gen",
        "n_real",
        "parameters",
        "warnings",
    }
    assert (
        type(data["value"]) is float
        and type(data["n_gen"]) is int
        and data["parameters"]["pair"] == [1, 2]
    )


def test_every_module_is_listed():
    assert {
        "app.metrics.frechet",
        "app.metrics.kid",
        "app.metrics.prdc",
        "app.metrics.cmmd",
    } <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_web_db_or_torch(module):
    code = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
