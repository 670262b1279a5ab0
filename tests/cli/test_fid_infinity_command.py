"""`arena metrics --metrics fid_infinity` on .npy features: the library's FID∞ with its interval."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from app import metrics
from app.cli.main import app


def test_fid_infinity_from_feature_files(tmp_path):
    rng = np.random.default_rng(3)
    real, gen = rng.normal(size=(120, 6)), rng.normal(0.3, 1.0, size=(100, 6))
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "gen.npy", gen)
    args = ["metrics", "--real", tmp_path / "real.npy", "--gen", tmp_path / "gen.npy"]
    result = CliRunner().invoke(
        app, [str(a) for a in args] + ["--metrics", "fid,fid_infinity", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)["fid_infinity"]
    expected = metrics.fid_infinity(gen, real, bootstrap=50, seed=4)
    assert out["value"] == expected.value and out["ci_low"] < out["value"] < out["ci_high"]
    assert out["sizes"][0] == 10 and out["n_gen"] == 100
