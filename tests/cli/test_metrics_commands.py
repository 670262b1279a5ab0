"""`arena metrics` and `arena metrics clip-score` through typer's CliRunner, bad files included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from app import metrics
from app.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["metrics", *[str(a) for a in args]])


@pytest.fixture
def files(tmp_path: Path, rng) -> dict[str, Path]:
    arrays = {
        "real": np.abs(rng.standard_normal((120, 16))).astype(np.float32),
        "gen": np.abs(rng.standard_normal((110, 16)) + 0.1).astype(np.float32),
        "logits": rng.standard_normal((60, 10)),
        "text": rng.standard_normal((110, 16)),
    }
    paths = {}
    for name, array in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], array)
    return paths


def test_main_form_prints_one_object_per_family(files):
    result = run(
        "--real",
        files["real"],
        "--gen",
        files["gen"],
        "--metrics",
        "fid,kid,prdc,cmmd",
        "--is",
        files["logits"],
        "--seed",
        5,
        "--kid-subsets",
        4,
        "--kid-subset-size",
        50,
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out) == ["fid", "kid", "prdc", "cmmd", "inception_score"]
    real, gen = np.load(files["real"]), np.load(files["gen"])
    assert out["fid"]["value"] == metrics.fid(gen, real).value
    assert out["fid"]["n_real"] == 120 and out["fid"]["n_gen"] == 110 and out["fid"]["warnings"]
    kid = metrics.kid(gen, real, subsets=4, subset_size=50, seed=5)
    assert out["kid"] == {
        "mean": kid.value,
        "std": kid.std,
        "subsets": 4,
        "subset_size": 50,
        "seed": 5,
        "n_real": 120,
        "n_gen": 110,
        "warnings": [],
    }
    prdc = metrics.prdc(real, gen, k=5)
    assert {n: out["prdc"][n] for n in prdc} == {n: v.value for n, v in prdc.items()} and out[
        "prdc"
    ]["k"] == 5
    assert out["cmmd"]["value"] == metrics.cmmd(gen, real).value and out["cmmd"]["sigma"] == 10.0
    assert out["inception_score"]["mean"] == metrics.inception_score(np.load(files["logits"])).value


def test_default_families_and_a_drawn_seed_is_reported(files):
    result = run(
        "--real",
        files["real"],
        "--gen",
        files["gen"],
        "--kid-subset-size",
        40,
        "--kid-subsets",
        3,
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out) == ["fid", "kid", "prdc"] and isinstance(out["kid"]["seed"], int)


def test_table_format(files):
    result = run(
        "--real",
        files["real"],
        "--gen",
        files["gen"],
        "--metrics",
        "prdc,fid",
        "--format",
        "table",
    )
    assert result.exit_code == 0, result.output
    assert "precision (k=5)" in result.stdout and "coverage (k=5)" in result.stdout
    assert "fid: FID on 110 generated images" in result.stdout


def test_statistics_file_as_reference(files, tmp_path):
    real = np.load(files["real"])
    with_features, only_stats = tmp_path / "with.npz", tmp_path / "stats.npz"
    metrics.save_statistics(with_features, metrics.gaussian_stats(real), real)
    metrics.save_statistics(only_stats, metrics.gaussian_stats(real))
    expected = metrics.fid(np.load(files["gen"]), real).value
    fid_only = run("--real", only_stats, "--gen", files["gen"], "--metrics", "fid")
    assert fid_only.exit_code == 0 and json.loads(fid_only.stdout)["fid"]["value"] == pytest.approx(
        expected, rel=1e-12
    )
    kid = run(
        "--real",
        with_features,
        "--gen",
        files["gen"],
        "--metrics",
        "kid",
        "--kid-subset-size",
        50,
    )
    assert kid.exit_code == 0, kid.output
    refused = run("--real", only_stats, "--gen", files["gen"], "--metrics", "fid,kid")
    assert (
        refused.exit_code == 2
        and "holds only mu and sigma, but KID needs per-image features" in refused.stderr
    )


def test_inception_score_alone(files):
    result = run("--is", files["logits"])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)) == ["inception_score"]


def test_clip_score(files):
    result = run("clip-score", "--image", files["gen"], "--text", files["text"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)["clip_score"]
    expected = metrics.clip_score(np.load(files["gen"]), np.load(files["text"]))
    assert (
        out["value"] == expected.value and out["n"] == 110 and out["reduction"] == "mean_of_clamped"
    )
    torchmetrics_style = run(
        "clip-score",
        "--image",
        files["gen"],
        "--text",
        files["text"],
        "--reduction",
        "clamp_of_mean",
    )
    assert json.loads(torchmetrics_style.stdout)["clip_score"]["reduction"] == "clamp_of_mean"
    mismatched = run("clip-score", "--image", files["real"], "--text", files["text"])
    assert (
        mismatched.exit_code == 2
        and "120 image embeddings but 110 text embeddings" in mismatched.stderr
    )


def _bad(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    return path


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"real,features\n1,2\n", (), "not a readable .npy or .npz file"),
        (np.ones(7), (), "expected a 2-D (images, dimension) array, got shape (7,)"),
        (
            np.where(np.eye(30, 16) > 0, np.nan, 1.0),
            (),
            "row(s) contain NaN or inf (first: row 0)",
        ),
        (np.ones((30, 8)), (), "gen has dimension 8 but real has dimension 16"),
        (
            np.abs(np.random.default_rng(1).standard_normal((4, 16))),
            ("--metrics", "prdc"),
            "gen: 4 samples, this metric needs at least 6",
        ),
        (np.array(["a", "b"]), (), "expected a 2-D"),
    ],
)
def test_bad_files_exit_2_with_a_message(files, tmp_path, content, extra, message):
    bad = _bad(tmp_path, "bad.npy", content)
    result = run("--real", files["real"], "--gen", bad, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_usage_errors_exit_2(files, tmp_path):
    missing = run("--real", files["real"], "--gen", tmp_path / "nope.npy")
    assert missing.exit_code == 2 and "nope.npy: no such file" in missing.stderr
    unknown = run("--real", files["real"], "--gen", files["gen"], "--metrics", "fid,lpips")
    assert unknown.exit_code == 2 and "--metrics takes" in unknown.stderr
    no_logits = run("--real", files["real"], "--gen", files["gen"], "--metrics", "is")
    assert no_logits.exit_code == 2 and "--is LOGITS.npy" in no_logits.stderr
    one_side = run("--gen", files["gen"], "--metrics", "fid")
    assert one_side.exit_code == 2 and "pass --real and --gen" in one_side.stderr
    nothing = run()
    assert nothing.exit_code == 2 and "clip-score" in nothing.stdout
