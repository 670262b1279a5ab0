"""`arena ratings | agreement | mos` through typer's CliRunner, including every bad-file case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import stats_commands

runner = CliRunner()


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    stats_commands.register(app)
    return app


def run(cli, *args):
    return runner.invoke(cli, [str(a) for a in args])


def write(tmp_path: Path, text: str, name: str = "input.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_commands_are_registered_on_the_arena_app():
    from app.cli.main import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert {"ratings", "agreement", "mos"} <= names


def test_ratings_json(cli, fixtures, ratings_ref):
    result = run(cli, "ratings", fixtures / "battles_small.csv", "--bootstrap", 100, "--seed", 0)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_votes"] == 3000 and doc["bootstrap"] == {"rounds": 100, "seed": 0}
    assert list(doc["models"]) == [
        "gen00",
        "gen01",
        "gen02",
        "gen03",
        "gen04",
        "gen05",
    ]  # by rating
    for name, m in doc["models"].items():
        assert m["bt"] == pytest.approx(ratings_ref["bt_exact_newton"][name], abs=0.05)
        assert m["elo"] == pytest.approx(ratings_ref["online_elo"][name], abs=1e-9)
        assert m["ci_low"] < m["bt"] < m["ci_high"]
        assert m["votes"] == ratings_ref["num_battles_per_model"][name]
        assert set(m) == {
            *("bt", "ci_low", "ci_high", "rank", "elo", "votes", "win_rate"),
            *("unbounded", "separation"),
        }
        assert m["unbounded"] is None and m["separation"] is None
    assert doc["position"]["left_share"] == pytest.approx(
        ratings_ref["position"]["model_a(left)_win_share_of_decisive"]
    )
    assert doc["position"]["ci_low"] < 0.5 < doc["position"]["ci_high"]


def test_ratings_anchor_seed_and_table(cli, fixtures):
    one = json.loads(
        run(
            cli,
            "ratings",
            fixtures / "battles_small.csv",
            "--bootstrap",
            50,
            "--seed",
            3,
            "--anchor",
            "gen05=800",
        ).stdout
    )
    two = json.loads(
        run(
            cli,
            "ratings",
            fixtures / "battles_small.csv",
            "--bootstrap",
            50,
            "--seed",
            3,
            "--anchor",
            "gen05=800",
        ).stdout
    )
    assert one == two and one["models"]["gen05"]["bt"] == 800.0
    table = run(
        cli, "ratings", fixtures / "battles_small.csv", "--bootstrap", 20, "--format", "table"
    )
    assert table.exit_code == 0 and "gen00" in table.stdout and "left share" in table.stdout
    no_boot = json.loads(
        run(cli, "ratings", fixtures / "battles_small.csv", "--bootstrap", 0).stdout
    )
    assert no_boot["models"]["gen00"]["ci_low"] is None


def test_agreement_wide_long_and_levels(cli, fixtures, tmp_path):
    ref = json.loads((fixtures / "agreement_ref.json").read_text())
    doc = json.loads(run(cli, "agreement", fixtures / "agreement_ratings.csv").stdout)
    assert doc["fleiss_kappa"] == pytest.approx(ref["fleiss_kappa"], abs=1e-12)
    assert doc["krippendorff_alpha"] == pytest.approx(ref["krippendorff_alpha_nominal"], abs=1e-12)
    assert (doc["n_items"], doc["n_raters"], doc["level"]) == (200, 3, "nominal")
    missing = json.loads(run(cli, "agreement", fixtures / "agreement_ratings_missing.csv").stdout)
    # Fleiss' kappa generalised to unequal raters per item (Gwet 2014) over items with >= 2.
    assert missing["fleiss_kappa"] is not None and missing["n_items_used"] <= missing["n_items"]
    assert 0 < missing["percent_agreement"] < 1
    assert missing["krippendorff_alpha"] == pytest.approx(
        ref["missing_variant"]["krippendorff_alpha_nominal"], abs=1e-12
    )
    long = write(
        tmp_path, "item_id,rater,label\n1,a,left\n1,b,left\n2,a,right\n2,b,left\n3,a,tie\n3,b,tie\n"
    )
    doc = json.loads(run(cli, "agreement", long).stdout)
    assert doc["layout"] == "long" and doc["n_raters"] == 2 and doc["n_items"] == 3
    mos_ref = json.loads((fixtures / "mos_ref.json").read_text())
    ordinal = json.loads(
        run(cli, "agreement", fixtures / "mos_ratings.csv", "--level", "ordinal").stdout
    )
    assert ordinal["krippendorff_alpha"] == pytest.approx(
        mos_ref["krippendorff_alpha_ordinal"], abs=1e-12
    )
    assert (
        run(cli, "agreement", fixtures / "agreement_ratings.csv", "--format", "table").exit_code
        == 0
    )


def test_mos(cli, fixtures):
    ref = json.loads((fixtures / "mos_ref.json").read_text())
    doc = json.loads(run(cli, "mos", fixtures / "mos_ratings.csv").stdout)
    assert doc["krippendorff_alpha_interval"] == pytest.approx(
        ref["krippendorff_alpha_interval"], abs=1e-12
    )
    for name, m in doc["models"].items():
        assert m["mean"] == pytest.approx(ref["per_model"][name]["mean"], abs=1e-12)
        assert (m["ci_low"], m["ci_high"]) == pytest.approx(
            tuple(ref["per_model"][name]["ci95_t_all_ratings"]), abs=1e-12
        )
        assert m["n"] == 250
    norm = json.loads(run(cli, "mos", fixtures / "mos_ratings.csv", "--normalise").stdout)
    assert norm["normalised"] and norm["models"]["gen_a"]["mean"] != doc["models"]["gen_a"]["mean"]
    assert run(cli, "mos", fixtures / "mos_ratings.csv", "--format", "table").exit_code == 0


BAD_BATTLES = [
    ("model_a,model_b\nx,y\n", "line 1", "winner"),
    ("model_a,model_b,winner\nx,y,model_a\nx,y,left\n", "line 3", "unknown winner"),
    ("model_a,model_b,winner\nx,y,model_a\ny,y,tie\n", "line 3", "plays itself"),
    ("model_a,model_b,winner\nx,y,model_a\nx,y\n", "line 3", "expected 3 fields"),
    ("model_a,model_b,winner\n,y,model_a\n", "line 2", "empty model name"),
    ("", "line 1", "empty file"),
]


@pytest.mark.parametrize("text,line,message", BAD_BATTLES)
def test_bad_battle_files_exit_2_naming_the_line(cli, tmp_path, text, line, message):
    result = run(cli, "ratings", write(tmp_path, text), "--bootstrap", 10)
    assert result.exit_code == 2
    assert line in result.stderr and message in result.stderr


def test_ratings_bad_arguments(cli, fixtures, tmp_path):
    missing = run(cli, "ratings", tmp_path / "nope.csv")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    for anchor in ("gen05", "gen05=abc", "=3"):
        assert (
            run(cli, "ratings", fixtures / "battles_small.csv", "--anchor", anchor).exit_code == 2
        )
    unknown = run(
        cli, "ratings", fixtures / "battles_small.csv", "--anchor", "nobody=1000", "--bootstrap", 5
    )
    assert unknown.exit_code == 2 and "nobody" in unknown.stderr


BAD_MOS = [
    ("item_id,rater1\n1,4\n", "line 1", "model"),
    ("item_id,model\n1,m\n", "line 1", "no rater columns"),
    ("item_id,model,rater1,rater2\n1,m,4,5\n2,m,4,good\n", "line 3", "not a number"),
    ("item_id,model,rater1,rater2\n1,m,4,5\n1,m,3,3\n", "line 3", "twice"),
    ("item_id,model,rater1,rater2\n1,m,4,nan\n", "line 2", "finite"),
]


@pytest.mark.parametrize("text,line,message", BAD_MOS)
def test_bad_mos_files_exit_2_naming_the_line(cli, tmp_path, text, line, message):
    result = run(cli, "mos", write(tmp_path, text))
    assert result.exit_code == 2
    assert line in result.stderr and message in result.stderr


BAD_RATINGS = [
    ("rater1,rater2\nleft,right\n", "line 1", "item_id"),
    ("item_id,notes\n1,x\n", "line 1", "no rater columns"),
    ("item_id,rater,label\n1,a,left\n1,a,right\n", "line 3", "twice"),
    ("item_id,rater1,rater2\n1,left,left\n1,right,left\n", "line 3", "twice"),
    ("item_id,rater1,rater2\n", "line 2", "no ratings"),
]


@pytest.mark.parametrize("text,line,message", BAD_RATINGS)
def test_bad_agreement_files_exit_2_naming_the_line(cli, tmp_path, text, line, message):
    result = run(cli, "agreement", write(tmp_path, text))
    assert result.exit_code == 2
    assert line in result.stderr and message in result.stderr


def test_agreement_undefined_statistics_exit_2(cli, tmp_path):
    same = write(tmp_path, "item_id,rater1,rater2\n1,left,left\n2,left,left\n")
    result = run(cli, "agreement", same)
    assert result.exit_code == 2 and "same" in result.stderr
    text_interval = write(tmp_path, "item_id,rater1,rater2\n1,left,right\n2,left,left\n", "t.csv")
    result = run(cli, "agreement", text_interval, "--level", "interval")
    assert result.exit_code == 2 and "numeric" in result.stderr
