"""Study bundles: export, import into another instance, and the same leaderboard there."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.db import make_engine, make_session_factory
from app.leaderboard.board import LeaderboardOptions, build_leaderboard
from app.media import MediaStore
from app.migrate import upgrade
from app.models import Image, Job
from app.services.bundles import export_bundle, import_bundle
from app.services.compute.features import store_features
from app.services.studies.study import get_study
from app.settings import Settings
from tests.support.leaderboard_seed import seed_leaderboard_study

VOLATILE = {"id", "generator_id", "generated_at", "fingerprint", "reference_set", "reference_sets"}
runner = CliRunner()


def _comparable(value):
    """The leaderboard without what differs between instances by construction (row ids, time)."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _board(factory, name: str) -> dict:
    with factory() as session:
        study = get_study(session, name)
        board = build_leaderboard(session, study, LeaderboardOptions(rounds=200))
        return board.to_dict()


@pytest.fixture
def other(tmp_path) -> Settings:
    """A second, empty instance (its own SQLite database and media folder)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        media_dir=tmp_path / "other-media",
        secret_key="other",
        _env_file=None,
    )
    upgrade(settings)
    return settings


@pytest.mark.parametrize("kind", ["pairwise", "rating", "flag"])
def test_round_trip_gives_the_same_leaderboard(settings, other, tmp_path, monkeypatch, kind):
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(settings.media_dir), kind=kind)
        # A finished study: its metric jobs have run (a queued job shows as "pending").
        session.execute(update(Job).values(status="done"))
        session.commit()
        name = seeded.study.name
    original = _board(factory, name)
    assert original["votes"]["total"] > 50 and original["agreement"]

    bundle = tmp_path / "study.zip"
    monkeypatch.setenv("ARENA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(settings.media_dir))
    exported = runner.invoke(cli, ["bundle", "export", name, "--out", str(bundle), "--images"])
    assert exported.exit_code == 0, exported.output
    counts = json.loads(exported.stdout)
    assert counts["votes"] == original["votes"]["total"] and counts["image_files"] > 0

    monkeypatch.setenv("ARENA_DATABASE_URL", other.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(other.media_dir))
    imported = runner.invoke(cli, ["bundle", "import", str(bundle)])
    assert imported.exit_code == 0, imported.output
    other_engine = make_engine(other)
    copy = _board(make_session_factory(other_engine), name)
    assert _comparable(copy) == _comparable(original)
    assert copy["reference_set"]["name"] == original["reference_set"]["name"]
    # The served images came along; the invites did not (nobody can vote as those annotators).
    with zipfile.ZipFile(bundle) as archive:
        sha = next(n for n in archive.namelist() if n.startswith("images/"))[7:-4]
    assert MediaStore(other.media_dir).read_served(sha)

    again = runner.invoke(cli, ["bundle", "import", str(bundle)])
    assert again.exit_code == 2 and "already has study" in " ".join(again.output.split())
    engine.dispose()
    other_engine.dispose()


def test_the_manifest_lists_every_file_with_its_checksum(settings, tmp_path):
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(settings.media_dir))
        reference = seeded.reference_set
        shas = list(
            session.scalars(
                select(Image.sha256)
                .where(Image.reference_set_id == reference.id)
                .order_by(Image.id)
            )
        )
        features = np.random.default_rng(4).normal(size=(len(shas), 8)).astype(np.float32)
        store_features(session, settings.features_path, "inception-fid:test", shas, features)
        session.commit()
        manifest = export_bundle(
            session, seeded.study, tmp_path / "b.zip", features_root=settings.features_path
        )
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        stats = np.load(io.BytesIO(archive.read(f"reference/{reference.name}.npz")))
        np.testing.assert_allclose(stats["mu"], features.astype(np.float64).mean(axis=0))
        assert int(stats["n"]) == len(shas)
        names = set(archive.namelist())
        votes_csv = archive.read("votes.csv").decode()
        votes = [json.loads(line) for line in archive.read("votes.jsonl").decode().splitlines()]
        images = [json.loads(line) for line in archive.read("images.jsonl").decode().splitlines()]
        annotators = archive.read("annotators.jsonl").decode()
    expected = {
        "study.json",
        "generators.json",
        "prompts.json",
        "images.jsonl",
        "assignments.jsonl",
        "votes.jsonl",
        "votes.csv",
        "metric_results.json",
        "reference_sets.json",
        "annotators.jsonl",
    }
    assert expected <= set(manifest["files"]) and names == set(manifest["files"]) | {
        "manifest.json"
    }
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())
    assert len(votes) == manifest["counts"]["votes"] == votes_csv.count("\n") - 1
    assert votes_csv.startswith("model_a,model_b,winner")  # the Chatbot Arena layout
    assert all(image["sha256"] and image["public_id"] for image in images)
    assert "token" not in annotators  # invite tokens never leave the instance
    engine.dispose()


def test_a_damaged_bundle_is_refused_and_nothing_is_written(settings, other, tmp_path):
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        seeded = seed_leaderboard_study(session, MediaStore(settings.media_dir))
        session.commit()
        export_bundle(session, seeded.study, tmp_path / "good.zip")
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(tmp_path / "good.zip") as good, zipfile.ZipFile(damaged, "w") as bad:
        for info in good.infolist():
            data = good.read(info)
            if info.filename == "votes.jsonl":
                data = data.replace(b'"left"', b'"LEFT"', 1)
            bad.writestr(info, data)
    other_engine = make_engine(other)
    with make_session_factory(other_engine)() as session:
        from app.errors import InvalidInput
        from app.models import Study

        with pytest.raises(InvalidInput, match=r"votes\.jsonl does not match its checksum"):
            import_bundle(session, damaged)
        with pytest.raises(InvalidInput, match="not a readable zip"):
            (tmp_path / "junk.zip").write_bytes(b"not a zip")
            import_bundle(session, tmp_path / "junk.zip")
        session.rollback()
        assert session.query(Study).count() == 0
    engine.dispose()
    other_engine.dispose()


def test_a_study_with_aspects_round_trips_every_aspects_board(settings, other, tmp_path):
    from tests.support.humaneval import simulate_aspects

    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        study = simulate_aspects(session, "pairwise", prompts=6, raters=3)
        session.commit()
        name = study.name
        export_bundle(session, study, tmp_path / "aspects.zip")
    other_engine = make_engine(other)
    with make_session_factory(other_engine)() as session:
        import_bundle(session, tmp_path / "aspects.zip")
        session.commit()
    for aspect in ("prompt", "realism"):
        boards = []
        for each in (engine, other_engine):
            with make_session_factory(each)() as session:
                study = get_study(session, name)
                options = LeaderboardOptions(rounds=50, aspect=aspect)
                boards.append(build_leaderboard(session, study, options).to_dict())
        assert boards[0]["study"]["aspects"] == boards[1]["study"]["aspects"]
        assert boards[1]["options"]["aspect"] == aspect
        assert _comparable(boards[1]) == _comparable(boards[0])
    engine.dispose()
    other_engine.dispose()
