"""The leaderboard on a seeded study (votes cast through the services, metric results stored),
on SQLite and PostgreSQL: the page, its JSON, the exports and the report show the same numbers;
access control; sorting; the exclusions toggle; notes for missing numbers; caching."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from typer.testing import CliRunner

from app.leaderboard.board import LeaderboardOptions
from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from app.models import Image, Job, Study
from app.reports import format as fmt
from app.services.compute.features import store_features
from tests.support.leaderboard_seed import (
    CLIP_REASON,
    STRENGTH,
    cast_votes,
    seed_leaderboard_study,
)


class BoardParser(HTMLParser):
    """Cells of the #leaderboard table: {generator: {field: (data-value, visible text)}}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, tuple[str | None, str]]] = {}
        self.order: list[str] = []
        self._row: str | None = None
        self._cell: tuple[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-generator" in attrs:
            self._row = attrs["data-generator"]
            self.rows[self._row] = {}
            self.order.append(self._row)
        elif tag in ("td", "th") and self._row and "data-field" in attrs:
            self._cell = (attrs["data-field"], attrs.get("data-value"))
            self._text = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell and self._row:
            field, value = self._cell
            text = " ".join("".join(self._text).split())
            self.rows[self._row][field] = (value, text)
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._text.append(data)


def board(html: str) -> BoardParser:
    parser = BoardParser()
    parser.feed(html)
    return parser


def sign_in(client, key: str, next_path: str = "/") -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = client.post(
        "/login",
        data={"api_key": key, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


@pytest.fixture
def seeded(arena):
    """A private pairwise study with votes and metric results; the cache recomputes at once."""
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        result = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        info = {
            "id": result.study.id,
            "public_id": result.study.public_id,
            "name": result.study.name,
            "reference_set": result.reference_set.id,
            "generators": {g.name: g.id for g in result.generators},
        }
    return arena, info


def _key(arena) -> str:
    return arena.headers["Authorization"].split(" ", 1)[1]


def test_page_json_exports_and_report_show_identical_numbers(seeded, tmp_path, monkeypatch):
    arena, info = seeded
    client = arena.client
    api = client.get(f"/api/studies/{info['id']}/leaderboard", headers=arena.headers)
    assert api.status_code == 200, api.text
    data = api.json()
    rows = {row["generator"]: row for row in data["rows"]}
    assert set(rows) == set(STRENGTH)
    assert data["votes"]["attention_checks"] > 0
    assert data["agreement"]["excluded"], "the seeded lazy annotator must be excluded"

    # The page (signed in with the same key) shows the JSON's numbers, to the last digit in
    # data-value and formatted by the shared rules in the visible text.
    sign_in(client, _key(arena))
    page = client.get(f"/studies/{info['public_id']}/leaderboard")
    assert page.status_code == 200
    cells = board(page.text).rows
    for name, row in rows.items():
        human = row["human"]
        for field in ("bt", "elo", "win_rate"):
            value, text = cells[name][field]
            assert json.loads(value) == human[field]
            assert text.startswith(fmt.number(human[field], field))
        assert cells[name]["votes"][0] == str(human["votes"])
        assert fmt.interval(human["bt_ci_low"], human["bt_ci_high"], "bt") in cells[name]["bt"][1]
        for metric, cell in row["metrics"].items():
            value, text = cells[name][metric]
            assert json.loads(value) == cell["value"]
            if cell["state"] == "ok":
                assert text.startswith(fmt.metric_value(cell))
            elif cell["state"] == "unavailable":
                # A compact marker pointing at the reason, which is stated once below the table.
                assert text.startswith("n/a") and cell["note"] in text
                notes = page.text.split('id="lb-notes"', 1)[1].split("</ol>", 1)[0]
                assert notes.count(f">{cell['note']}</li>") == 1
            else:
                assert text == fmt.short_note(cell)

    # The leaderboard exports: JSON is the API document, CSV carries every digit.
    exported = client.get(
        f"/studies/{info['public_id']}/leaderboard/export",
        params={"what": "leaderboard", "format": "json"},
    )
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["rows"] == data["rows"]
    as_csv = client.get(
        f"/studies/{info['public_id']}/leaderboard/export",
        params={"what": "leaderboard", "format": "csv"},
    )
    for record in csv.DictReader(io.StringIO(as_csv.text)):
        row = rows[record["generator"]]
        assert float(record["bt"]) == row["human"]["bt"]
        assert float(record["bt_ci_low"]) == row["human"]["bt_ci_low"]
        assert int(record["votes"]) == row["human"]["votes"]
        assert float(record["fid"]) == row["metrics"]["fid"]["value"]
        assert float(record["kid_std"]) == row["metrics"]["kid"]["std"]
        assert record["clip_score"] == "" and record["clip_score_note"].startswith("unavailable")
        assert float(record["setting.guidance_scale"]) == row["settings"]["guidance_scale"]

    # Metric results: the stored rows behind the cells.
    metrics = client.get(
        f"/api/studies/{info['name']}/export",
        params={"what": "metrics", "format": "csv"},
        headers=arena.headers,
    )
    stored = list(csv.DictReader(io.StringIO(metrics.text)))
    for record in stored:
        if record["metric"] == "fid":
            assert float(record["value"]) == rows[record["generator"]]["metrics"]["fid"]["value"]
            assert record["warnings"].startswith('["FID on 5 generated images')

    # Votes in the Chatbot Arena layout: with exclusions off every vote, attention checks marked;
    # with exclusions on (the default, as the board) without the excluded annotators' votes.
    votes = client.get(
        f"/studies/{info['public_id']}/leaderboard/export",
        params={"what": "votes", "format": "csv", "exclusions": "off"},
    )
    records = list(csv.DictReader(io.StringIO(votes.text)))
    assert len(records) == data["votes"]["total"]
    assert {"model_a", "model_b", "winner"} <= set(records[0])
    assert sum(1 for r in records if r["check_kind"]) == data["votes"]["attention_checks"]
    excluded = {e["handle"] for e in data["agreement"]["excluded"]}
    assert excluded and {r["annotator"] for r in records if r["annotator_excluded"] == "true"} == (
        excluded
    )
    kept = client.get(
        f"/studies/{info['public_id']}/leaderboard/export",
        params={"what": "votes", "format": "csv"},
    )
    kept_records = list(csv.DictReader(io.StringIO(kept.text)))
    assert kept.text != votes.text and not {r["annotator"] for r in kept_records} & excluded
    assert sum(1 for r in kept_records if not r["check_kind"]) == data["votes"]["used_for_ratings"]

    # The report, written by the CLI from a fresh computation, prints the same numbers.
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    monkeypatch.setenv("ARENA_SECRET_KEY", "test-secret-key-not-for-production")
    from app.cli.main import app as cli

    runner = CliRunner()
    for suffix in ("html", "md"):
        out = tmp_path / f"report.{suffix}"
        result = runner.invoke(cli, ["report", info["name"], "--out", str(out)])
        assert result.exit_code == 0, result.output
        text = out.read_text()
        for _name, row in rows.items():
            human = row["human"]
            assert fmt.number(human["bt"], "bt") in text
            assert fmt.interval(human["bt_ci_low"], human["bt_ci_high"], "bt") in text
            assert fmt.metric_value(row["metrics"]["fid"]) in text
            assert fmt.metric_value(row["metrics"]["kid"]) in text
        assert fmt.number(data["agreement"]["fleiss_kappa"], "kappa") in text
        assert fmt.number(data["agreement"]["krippendorff_alpha"], "kappa") in text
        for c in data["correlations"]:
            if c["spearman"] is not None:
                assert fmt.number(c["spearman"], "correlation") in text
        assert CLIP_REASON.replace("|", "\\|") in text
        # Self-contained: plots and image grids are inline, nothing is fetched.
        assert not re.search(r'(src|href)="https?://', text)
        assert "bootstrap" in text.lower() and "seed 0" in text and "numpy" in text
        for pillar in (
            "Sample quality",
            "Prompt adherence",
            "Human preference",
            "Failure analysis",
        ):
            assert pillar in text
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") >= 3 + len(rows)  # ratings, win rate, precision-recall, samples
    assert "data:image/png;base64," in html  # the sample images themselves


def test_cli_export_writes_each_kind_and_refuses_bad_input(seeded, tmp_path, monkeypatch):
    arena, info = seeded
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    monkeypatch.setenv("ARENA_MEDIA_DIR", str(arena.settings.media_dir))
    from app.cli.main import app as cli

    runner = CliRunner()
    api = arena.client.get(f"/api/studies/{info['id']}/leaderboard", headers=arena.headers).json()
    out = tmp_path / "board.json"
    result = runner.invoke(
        cli, ["export", info["name"], "--what", "leaderboard", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["rows"] == api["rows"]
    out = tmp_path / "votes.jsonl"
    result = runner.invoke(
        cli,
        ["export", info["public_id"], "--what", "votes", "--out", str(out), "--exclusions", "off"],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == api["votes"]["total"]
    assert json.loads(lines[0]).keys() >= {"model_a", "model_b", "winner"}
    out = tmp_path / "metrics.csv"
    assert (
        runner.invoke(
            cli, ["export", str(info["id"]), "--what", "metrics", "--out", str(out)]
        ).exit_code
        == 0
    )
    assert out.read_text().startswith("generator,reference_set,metric,status,value")

    bad = runner.invoke(
        cli,
        [
            "export",
            "no-such-study",
            "--what",
            "votes",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert bad.exit_code == 2 and "no study 'no-such-study'" in bad.output
    bad = runner.invoke(
        cli,
        ["export", info["name"], "--what", "votes", "--out", str(tmp_path / "x.json")],
    )
    assert bad.exit_code == 2 and "csv or jsonl" in bad.output
    bad = runner.invoke(
        cli, ["report", info["name"], "--out", str(tmp_path / "missing" / "r.html")]
    )
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_private_leaderboards_need_a_researcher(seeded):
    arena, info = seeded
    from fastapi.testclient import TestClient

    anonymous = TestClient(arena.app)
    page = anonymous.get(f"/studies/{info['public_id']}/leaderboard", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Fstudies")
    assert anonymous.get(f"/api/studies/{info['id']}/leaderboard").status_code == 401
    assert (
        anonymous.get(
            f"/api/studies/{info['id']}/export",
            params={"what": "votes", "format": "csv"},
        ).status_code
        == 401
    )
    assert (
        anonymous.get(f"/studies/{info['public_id']}/leaderboard/plots/ratings.svg").status_code
        == 401
    )
    wrong = anonymous.get(
        f"/api/studies/{info['id']}/leaderboard",
        headers={"Authorization": "Bearer arena_nope"},
    )
    assert wrong.status_code == 403

    # Sign-in: the form's CSRF token is required, a wrong key is refused, the cookie is HttpOnly.
    anonymous.get("/login")
    refused = anonymous.post("/login", data={"api_key": _key(arena), "csrf_token": "forged"})
    assert refused.status_code == 403 and "expired" in refused.text
    # Each rendering of the form gets a fresh nonce cookie; its own token goes with it.
    token = re.search(r'name="csrf_token" value="([^"]+)"', refused.text).group(1)
    wrong_key = anonymous.post("/login", data={"api_key": "arena_wrong", "csrf_token": token})
    assert wrong_key.status_code == 403 and "not recognised" in wrong_key.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', anonymous.get("/login").text).group(1)
    done = anonymous.post(
        "/login",
        data={
            "api_key": _key(arena),
            "csrf_token": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "httponly" in done.headers["set-cookie"].lower()
    assert anonymous.get(f"/studies/{info['public_id']}/leaderboard").status_code == 200
    # Every /api route needs the key itself: a researcher's cookie is for the pages.
    assert anonymous.get(f"/api/studies/{info['public_id']}/leaderboard").status_code == 401
    # A forged cookie is nobody.
    other = TestClient(arena.app, cookies={"arena_researcher": "forged.cookie.value"})
    assert other.get(f"/api/studies/{info['id']}/leaderboard").status_code == 401

    # Public: anyone reads it, by its opaque id only, once it is closed (issue 15).
    with arena.session_factory() as session:
        session.get(Study, info["id"]).is_public = True
        session.commit()
    fresh = TestClient(arena.app)
    base = f"/studies/{info['public_id']}/leaderboard"
    grid = f"{base}/samples/{info['generators']['aurora']}.svg"
    page = fresh.get(base, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert fresh.get(grid).status_code == 401
    with arena.session_factory() as session:
        session.get(Study, info["id"]).status = "closed"
        session.commit()
    assert fresh.get(base).status_code == 200
    assert fresh.get(grid).status_code == 200
    assert fresh.get(f"/api/studies/{info['public_id']}/leaderboard").status_code == 401
    assert fresh.get(f"/studies/{info['name']}/leaderboard").status_code == 404


def test_sorting_by_a_metric_and_the_exclusions_toggle(seeded):
    arena, info = seeded
    client = arena.client
    sign_in(client, _key(arena))
    base = f"/studies/{info['public_id']}/leaderboard"
    data = client.get(f"/api/studies/{info['id']}/leaderboard", headers=arena.headers).json()
    fid = {r["generator"]: r["metrics"]["fid"]["value"] for r in data["rows"]}
    ascending = board(client.get(base, params={"sort": "fid"}).text).order
    assert ascending == sorted(fid, key=fid.get)
    descending = board(client.get(base, params={"sort": "fid", "dir": "desc"}).text).order
    assert descending == ascending[::-1]
    # The default order is the human ranking.
    assert board(client.get(base).text).order == [r["generator"] for r in data["rows"]]
    # A column whose generators all lack a value keeps the human order.
    assert board(client.get(base, params={"sort": "cmmd"}).text).order == [
        r["generator"] for r in data["rows"]
    ]
    assert client.get(base, params={"sort": "bogus"}).status_code == 200

    page = client.get(base).text
    assert "Exclusions are <b>applied</b>" in page
    toggle = re.search(r'id="exclusions-toggle" class="button" href="([^"]+)"', page).group(1)
    without = client.get(toggle.replace("&amp;", "&"))
    assert "Exclusions are <b>not applied</b>" in without.text
    everyone = client.get(
        f"/api/studies/{info['id']}/leaderboard",
        params={"exclusions": "off"},
        headers=arena.headers,
    ).json()
    assert everyone["agreement"]["exclusions_applied"] is False
    assert everyone["votes"]["used_for_ratings"] > data["votes"]["used_for_ratings"]
    # The same annotators are named as excluded either way; only the numbers change.
    assert [e["handle"] for e in everyone["agreement"]["excluded"]] == [
        e["handle"] for e in data["agreement"]["excluded"]
    ]
    cells = board(without.text).rows
    for row in everyone["rows"]:
        assert json.loads(cells[row["generator"]]["bt"][0]) == row["human"]["bt"]
    assert client.get(base, params={"exclusions": "maybe"}).status_code == 422


def test_missing_numbers_say_why_and_the_page_refreshes_while_jobs_run(seeded):
    arena, info = seeded
    client = arena.client
    sign_in(client, _key(arena))
    base = f"/studies/{info['public_id']}/leaderboard"
    page = client.get(base).text
    cells = board(page).rows
    assert cells["ember"]["diversity"][1] == "waiting: 1 job queued"
    assert cells["aurora"]["diversity"][1] == "not computed"
    # One compact marker per unavailable cell; the whole reason once, in the notes below.
    marker = cells["aurora"]["clip_score"][1]
    assert marker.startswith("n/a") and CLIP_REASON in marker
    notes = page.split('id="lb-notes"', 1)[1].split("</ol>", 1)[0]
    assert notes.count(CLIP_REASON) == 1
    assert len({cells[g]["clip_score"][1] for g in cells}) == 1  # every row points at that note
    assert "updating" in cells["ember"]["fid"][1]
    assert 'hx-trigger="every 5s"' in page and f'hx-get="{base}/board?' in page
    partial = client.get(f"{base}/board", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and partial.text.lstrip().startswith('<div id="board"')

    with arena.session_factory() as session:
        for job in session.query(Job).filter(Job.status == "queued"):
            job.status = "done"
        session.commit()
    page = client.get(base).text
    assert "hx-trigger" not in page
    assert board(page).rows["ember"]["diversity"][1] == "not computed"

    plots = {
        name: client.get(f"{base}/plots/{name}.svg")
        for name in ("ratings", "win-rate", "precision-recall")
    }
    for name, response in plots.items():
        assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
        assert "aurora" in response.text, name
    assert client.get(f"{base}/plots/mos.svg").status_code == 404
    grid = client.get(f"{base}/samples/{info['generators']['aurora']}.svg")
    assert grid.status_code == 200 and "<image" in grid.text


def test_export_parameters_are_checked(seeded):
    arena, info = seeded
    url = f"/api/studies/{info['id']}/export"
    bad_what = arena.client.get(url, params={"what": "everything"}, headers=arena.headers)
    assert bad_what.status_code == 422
    mismatch = arena.client.get(
        url, params={"what": "votes", "format": "json"}, headers=arena.headers
    )
    assert mismatch.status_code == 422 and "csv or jsonl" in mismatch.json()["detail"]
    mismatch = arena.client.get(
        url, params={"what": "leaderboard", "format": "jsonl"}, headers=arena.headers
    )
    assert mismatch.status_code == 422 and "csv or json" in mismatch.json()["detail"]
    missing = arena.client.get("/api/studies/nope/leaderboard", headers=arena.headers)
    assert missing.status_code == 404


def test_reference_statistics_npz(seeded):
    arena, info = seeded
    url = f"/api/reference-sets/{info['reference_set']}/statistics.npz"
    assert arena.client.get(url).status_code == 401
    waiting = arena.client.get(url, headers=arena.headers)
    assert waiting.status_code == 404 and "arena worker" in waiting.json()["detail"]
    rng = np.random.default_rng(4)
    with arena.session_factory() as session:
        shas = [
            s
            for (s,) in session.query(Image.sha256)
            .filter(Image.reference_set_id == info["reference_set"])
            .order_by(Image.id)
        ]
        features = rng.normal(size=(len(shas), 16)).astype(np.float32)
        store_features(session, arena.settings.features_path, "inception-fid:test", shas, features)
        session.commit()
    response = arena.client.get(url, headers=arena.headers)
    assert response.status_code == 200, response.text
    archive = np.load(io.BytesIO(response.content))
    as_64 = features.astype(np.float64)
    # pytorch-fid's calculate_activation_statistics: np.mean(axis=0), np.cov(rowvar=False).
    np.testing.assert_allclose(archive["mu"], as_64.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        archive["sigma"], np.cov(as_64, rowvar=False), rtol=1e-10, atol=1e-12
    )
    assert int(archive["n"]) == len(shas) and archive["features"].shape == (
        len(shas),
        16,
    )


def test_cache_serves_views_and_recomputes_when_votes_change(seeded):
    arena, info = seeded
    options = LeaderboardOptions(rounds=50)
    fresh = LeaderboardCache(debounce_seconds=0)
    debounced = LeaderboardCache(debounce_seconds=3600)
    with arena.session_factory() as session:
        study = session.get(Study, info["id"])
        first = fresh.get(session, study, options)
        assert fresh.get(session, study, options) is first
        held = debounced.get(session, study, options)
        before = first.human.n_votes_total
        # Room for a fourth rating per item, taken by a newly invited annotator.
        study.raters_per_item = 4
        cast_votes(session, study, seed=5, careful=1, lazy=0)
        session.commit()
        second = fresh.get(session, study, options)
        assert second is not first and second.fingerprint != first.fingerprint
        assert second.human.n_votes_total > before
        # Within the debounce interval the cached leaderboard is served as it is.
        assert debounced.get(session, study, options) is held


def test_new_votes_are_recomputed_in_the_background_while_views_get_the_last_board(
    seeded,
):
    arena, info = seeded
    cache = LeaderboardCache(debounce_seconds=0, session_factory=arena.session_factory)
    arena.app.state.leaderboard_cache = cache
    url = f"/api/studies/{info['id']}/leaderboard"
    first = arena.client.get(url, headers=arena.headers).json()
    assert first["updating"] is False
    with arena.session_factory() as session:
        study = session.get(Study, info["id"])
        study.raters_per_item = 4
        cast_votes(session, study, seed=7, careful=1, lazy=0)
        session.commit()
    stale = arena.client.get(url, headers=arena.headers).json()
    assert stale["updating"] is True and stale["fingerprint"] == first["fingerprint"]
    try:
        sign_in(arena.client, _key(arena))
        page = arena.client.get(f"/studies/{info['public_id']}/leaderboard").text
        assert 'id="recomputing"' in page and 'hx-trigger="every 5s"' in page
    finally:
        cache.wait()
    fresh = arena.client.get(url, headers=arena.headers).json()
    assert fresh["updating"] is False and fresh["fingerprint"] != first["fingerprint"]
    assert fresh["votes"]["total"] > first["votes"]["total"]


@pytest.mark.parametrize("kind", ["rating", "flag"])
def test_rating_and_flag_studies(arena, kind):
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        result = seed_leaderboard_study(
            session, MediaStore(arena.settings.media_dir), kind=kind, public=True
        )
        session.commit()
        public_id = result.study.public_id
    data = arena.client.get(f"/api/studies/{public_id}/leaderboard", headers=arena.headers).json()
    page = arena.client.get(f"/studies/{public_id}/leaderboard", headers=arena.headers)
    assert page.status_code == 200
    cells = board(page.text).rows
    assert data["votes"]["attention_checks"] > 0
    assert data["agreement"]["attention_checks"]["accuracy"] is not None
    for row in data["rows"]:
        if kind == "rating":
            value, text = cells[row["generator"]]["mos"]
            assert json.loads(value) == row["human"]["mos"]
            assert text.startswith(fmt.number(row["human"]["mos"], "mos"))
        else:
            rates = row["human"]["flag_rates"]
            value, _ = cells[row["generator"]]["flag:any"]
            assert json.loads(value) == rates["any"]["rate"]
            assert set(rates) == {*data["study"]["flag_options"], "any"}
    best = data["rows"][0]["generator"]
    assert best in ("aurora", "brook")
    figure = "mos" if kind == "rating" else "flags"
    plot = f"/studies/{public_id}/leaderboard/plots/{figure}.svg"
    assert arena.client.get(plot, headers=arena.headers).status_code == 200


def test_a_study_without_votes_or_metrics_says_why(arena, tmp_path):
    from app.leaderboard.board import build_leaderboard
    from app.reports.report import collect, render
    from tests.support.humaneval import seed_study

    with arena.session_factory() as session:
        study = seed_study(session, "pairwise", is_public=True)
        session.commit()
        public_id = study.public_id
        lb = build_leaderboard(session, study, LeaderboardOptions(rounds=20))
        html = render(collect(session, MediaStore(arena.settings.media_dir), lb), "html")
        markdown = render(collect(session, MediaStore(arena.settings.media_dir), lb), "md")
    data = arena.client.get(f"/api/studies/{public_id}/leaderboard", headers=arena.headers).json()
    assert data["votes"]["total"] == 0
    assert all(row["human"]["bt"] is None and row["human"]["votes"] == 0 for row in data["rows"])
    assert data["agreement"]["notes"]["krippendorff_alpha"] == "no votes yet"
    assert data["reference_set"] is None
    assert all(
        row["metrics"]["fid"]["note"] == "unavailable: no reference set of real images uploaded"
        for row in data["rows"]
    )
    page = arena.client.get(f"/studies/{public_id}/leaderboard", headers=arena.headers)
    assert page.status_code == 200
    assert "no votes yet" in page.text
    plot = f"/studies/{public_id}/leaderboard/plots/ratings.svg"
    assert arena.client.get(plot, headers=arena.headers).status_code == 404
    for text in (html, markdown):
        assert "no human judgements yet" in text and "no stored images" in text
