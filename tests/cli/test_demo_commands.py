"""`arena demo` seeding end to end at small sizes: real photographs, real FID Inception weights,
in-process worker, simulated raters, and the leaderboard a visitor would open."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("torch")

from app.demo.seed import (
    DemoSizes,
    failed_jobs,
    job_counts,
    prepare_directory,
    run_jobs,
    seed_catalogue,
    seed_studies,
)
from app.main import create_app

SMALL = DemoSizes(
    reference_per_photo=6,
    artist_a=12,
    artist_b_per_photo=2,
    artist_c_per_photo=2,
    artist_d_per_photo=1,
    simulated_raters=4,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings = prepare_directory(tmp_path_factory.mktemp("demo") / "gallery", 8000)
    key = seed_catalogue(settings, SMALL)
    progress: list[tuple[int, int]] = []
    run_jobs(settings, lambda done, total: progress.append((done, total)))
    studies = seed_studies(settings, SMALL)
    return settings, key, studies, progress


def _metric(row, name):
    cell = row["metrics"][name]
    assert cell["state"] == "ok", cell
    return cell["value"]


def test_every_metric_job_finished_and_progress_was_reported(demo):
    settings, _key, _studies, progress = demo
    done, total = job_counts(settings)
    assert total > 0 and done == total
    assert failed_jobs(settings) == []
    assert progress[-1] == (total, total)


def test_leaderboard_shows_the_failure_modes_the_artists_were_built_for(demo):
    settings, key, studies, _progress = demo
    pairwise = next(s for s in studies if s.kind == "pairwise")
    with TestClient(create_app(settings)) as client:
        studies_json = client.get("/api/studies", headers={"Authorization": f"Bearer {key}"}).json()
        study_id = next(s["id"] for s in studies_json if s["name"] == pairwise.name)
        board = client.get(
            f"/api/studies/{study_id}/leaderboard",
            headers={"Authorization": f"Bearer {key}"},
        ).json()
    every = {row["generator"]: row for row in board["rows"]}
    family = {"artist-d-cfg1", "artist-d-cfg3", "artist-d-cfg7"}
    assert set(every) == {"artist-a", "artist-b", "artist-c"} | family
    rows = {g: r for g, r in every.items() if g not in family}
    precision = {g: _metric(r, "precision") for g, r in rows.items()}
    recall = {g: _metric(r, "recall") for g, r in rows.items()}
    fid = {g: _metric(r, "fid") for g, r in rows.items()}
    # A: mode collapse; B: messy but spread out; C: good and diverse.
    assert max(precision, key=precision.get) == "artist-a"
    assert min(recall, key=recall.get) == "artist-a"
    assert recall["artist-b"] > recall["artist-a"]
    assert precision["artist-b"] < precision["artist-c"]
    assert min(fid, key=fid.get) == "artist-c"
    # The simulated raters filled the human side, and are marked as simulated.
    assert board["votes"]["total"] == pairwise.simulated_votes > 0
    assert board["votes"]["used_for_ratings"] > 0
    assert all(every[g]["human"]["bt"] is not None for g in every)
    simulated = [a for a in board["annotators"] if a["is_simulated"]]
    assert len(simulated) == SMALL.simulated_raters


def test_the_artist_d_family_is_a_guidance_sweep_with_a_plot(demo):
    settings, key, studies, _progress = demo
    pairwise = next(s for s in studies if s.kind == "pairwise")
    base = pairwise.leaderboard_url.removeprefix(settings.base_url)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        board = client.get(f"/api/studies/{pairwise.public_id}/leaderboard", headers=auth).json()
        (family,) = board["quality_diversity"]
        assert family["family"] == "artist-d" and family["setting"] == "guidance_scale"
        assert [p["setting"] for p in family["points"]] == [1.0, 3.0, 7.0]
        for point in family["points"]:
            fid = point["metrics"]["fid"]
            assert fid["value"] is not None and fid["ci_low"] < fid["ci_high"]
            assert point["metrics"]["coverage"]["ci_low"] is not None
            assert point["human"]["value"] is not None and point["human"]["ci_low"] is not None
        page = client.get(base, headers=auth)
        assert "/plots/sweep.svg" in page.text
        svg = client.get(f"{base}/plots/sweep.svg", headers=auth)
        assert svg.status_code == 200 and "artist-d" in svg.text and "guidance scale" in svg.text


def test_leaderboard_pages_and_the_invite_link_work(demo):
    settings, key, studies, _progress = demo
    with TestClient(create_app(settings)) as client:
        for study in studies:
            url = study.leaderboard_url.removeprefix(settings.base_url)
            # The demo's studies are public but still open: nothing shows without a sign-in.
            hidden = client.get(url, follow_redirects=False)
            assert hidden.status_code == 303 and "artist" not in hidden.text
            page = client.get(url, headers={"Authorization": f"Bearer {key}"})
            assert page.status_code == 200
            assert "artist-c" in page.text and "simulated" in page.text
            invite = client.get(study.invite_url.removeprefix(settings.base_url))
            assert invite.status_code == 200, invite.text


def test_a_folder_that_is_not_an_earlier_demo_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not an earlier demo"):
        prepare_directory(tmp_path, 8000)
    assert (tmp_path / "thesis.tex").read_text() == "precious"
