"""`arena push` and `arena jobs --server` against the app served by uvicorn on a loopback port."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.client import ArenaClient, ClientError, push_folder
from app.models import Batch, Image, Job
from tests.support.imagefactory import jpeg_bytes, png_bytes
from tests.support.served import serve_app

runner = CliRunner()


def _said(result) -> str:
    """The command's output as one line (rich wraps long messages)."""
    return " ".join(result.output.split())


@pytest.fixture
def served(arena):
    with serve_app(arena.app) as url:
        yield arena, url


@pytest.fixture
def folder(tmp_path):
    """Seven images (one in a subfolder) and a manifest mapping each to a prompt."""
    root = tmp_path / "images"
    (root / "more").mkdir(parents=True)
    manifest = {}
    for k in range(7):
        name = f"more/img{k}.jpg" if k == 6 else f"img{k}.png"
        data = jpeg_bytes(k) if k == 6 else png_bytes(k)
        (root / name).write_bytes(data)
        manifest[name] = f"p{k}"
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _setup(arena) -> None:
    prompts = {
        "name": "ps",
        "prompts": [{"external_id": f"p{k}", "text": f"t{k}"} for k in range(7)],
    }
    assert (
        arena.client.post("/api/prompt-sets", json=prompts, headers=arena.headers).status_code
        == 201
    )
    assert (
        arena.client.post("/api/generators", json={"name": "g"}, headers=arena.headers).status_code
        == 201
    )


def _stored(arena) -> tuple[int, int]:
    with arena.session_factory() as session:
        images = session.scalar(select(func.count()).select_from(Image))
        batches = session.scalar(select(func.count()).select_from(Batch))
    return images, batches


def _key(arena) -> str:
    return arena.headers["Authorization"].split(" ", 1)[1]


class Interrupted(httpx.BaseTransport):
    """Passes requests through to the real server until `allowed_batches` uploads, then the
    connection drops for good (a laptop going offline mid-push)."""

    def __init__(self, allowed_batches: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.allowed = allowed_batches
        self.uploads = 0

    def handle_request(self, request):
        if request.url.path.endswith("/batches"):
            if self.uploads >= self.allowed:
                raise httpx.ConnectError("network unreachable", request=request)
            self.uploads += 1
        return self.inner.handle_request(request)


def test_push_resumes_after_an_interrupted_upload(served, folder, monkeypatch):
    arena, url = served
    _setup(arena)
    manifest = json.loads((folder / "manifest.json").read_text())
    client = ArenaClient(
        url, _key(arena), retries=2, transport=Interrupted(1), sleep=lambda s: None
    )
    with pytest.raises(
        ClientError, match=r"(?s)failed 3 times.*ConnectError.*batches \[1\] are stored"
    ):
        push_folder(client, folder, "/api/generators/g", manifest=manifest, batch_files=3)
    assert _stored(arena) == (3, 1)  # the first batch is stored, all-or-nothing

    monkeypatch.setenv("ARENA_API_KEY", _key(arena))
    result = runner.invoke(
        cli, ["push", str(folder), "--server", url, "--generator", "g", "--batch-size", "3"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == 3 and summary["uploaded"] == 4
    assert len(summary["batch_ids"]) == 2 and 1 not in summary["batch_ids"]
    assert _stored(arena) == (7, 3)  # only the rest was uploaded: no duplicate
    with arena.session_factory() as session:
        prompts = {i.prompt.external_id for i in session.scalars(select(Image))}
    assert prompts == {f"p{k}" for k in range(7)}
    # A third push finds everything on the server and uploads nothing.
    again = runner.invoke(cli, ["push", str(folder), "--server", url, "--generator", "g"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["uploaded"] == 0
    assert _stored(arena) == (7, 3)


class FlakyThenLost(httpx.BaseTransport):
    """The first upload answers 503; the second is stored but its answer never arrives."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.uploads = 0

    def handle_request(self, request):
        if request.url.path.endswith("/batches"):
            self.uploads += 1
            if self.uploads == 1:
                return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"})
            if self.uploads == 2:
                self.inner.handle_request(request).read()
                raise httpx.ReadTimeout("the answer was lost", request=request)
        return self.inner.handle_request(request)


def test_transient_failures_are_retried_without_storing_twice(served, folder):
    arena, url = served
    _setup(arena)
    manifest = json.loads((folder / "manifest.json").read_text())
    client = ArenaClient(url, _key(arena), transport=FlakyThenLost(), sleep=lambda s: None)
    result = push_folder(client, folder, "/api/generators/g", manifest=manifest, batch_files=10)
    # 503 → retried; stored-but-lost → the retry asks first and finds it stored.
    assert result.retries == 2 and result.batch_ids == [] and result.skipped == 7
    assert _stored(arena) == (7, 1)


def test_push_refuses_clearly(served, folder, tmp_path, monkeypatch):
    arena, url = served
    _setup(arena)
    monkeypatch.delenv("ARENA_API_KEY", raising=False)
    monkeypatch.delenv("ARENA_SERVER_URL", raising=False)
    missing_config = tmp_path / "none.toml"
    no_key = runner.invoke(
        cli,
        ["push", str(folder), "--server", url, "--generator", "g", "--config", str(missing_config)],
    )
    assert no_key.exit_code == 2 and "ARENA_API_KEY" in _said(no_key)
    monkeypatch.setenv("ARENA_API_KEY", "arena_wrong")
    wrong = runner.invoke(cli, ["push", str(folder), "--server", url, "--generator", "g"])
    assert wrong.exit_code == 2 and "not recognised" in _said(wrong)
    monkeypatch.setenv("ARENA_API_KEY", _key(arena))
    both = runner.invoke(
        cli, ["push", str(folder), "--server", url, "--generator", "g", "--reference-set", "r"]
    )
    assert both.exit_code == 2 and "exactly one" in _said(both)
    unknown = runner.invoke(cli, ["push", str(folder), "--server", url, "--generator", "nope"])
    assert unknown.exit_code == 2 and "no generator 'nope'" in _said(unknown)
    assert _stored(arena) == (0, 0)


def test_reference_sets_and_a_config_file(served, folder, tmp_path, monkeypatch):
    arena, url = served
    assert (
        arena.client.post(
            "/api/reference-sets", json={"name": "real"}, headers=arena.headers
        ).status_code
        == 201
    )
    (folder / "manifest.json").unlink()  # reference sets take no manifest
    config = tmp_path / "client.toml"
    config.write_text(f'server_url = "{url}"\napi_key = "{_key(arena)}"\n')
    monkeypatch.delenv("ARENA_API_KEY", raising=False)
    monkeypatch.delenv("ARENA_SERVER_URL", raising=False)
    result = runner.invoke(
        cli, ["push", str(folder), "--reference-set", "real", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["uploaded"] == 7

    # The queue those uploads filled, read remotely.
    jobs = runner.invoke(cli, ["jobs", "--config", str(config), "--limit", "50"])
    assert jobs.exit_code == 0, jobs.output
    assert "extract_features" in jobs.output and "queued" in jobs.output


def test_known_hashes_route(arena):
    _setup(arena)
    digests = ["0" * 64, "F" * 64]
    answer = arena.client.post(
        "/api/generators/g/images/known", json={"sha256": digests}, headers=arena.headers
    )
    assert answer.status_code == 200 and answer.json() == {"known": []}
    bad = arena.client.post(
        "/api/generators/g/images/known", json={"sha256": ["xyz"]}, headers=arena.headers
    )
    assert bad.status_code == 422


def test_jobs_follow_refreshes_until_the_queue_is_empty(served, folder, monkeypatch):
    arena, url = served
    _setup(arena)
    with arena.session_factory() as session:
        from app.services.compute.jobs import enqueue

        enqueue(session, "extract_features", {"image_ids": []}, dedupe_key="follow-test")
        session.commit()
    reads = []

    def pause(_seconds: float) -> None:
        # A worker finishes the job between two reads.
        reads.append(1)
        with arena.session_factory() as session:
            session.execute(update(Job).values(status="done"))
            session.commit()

    monkeypatch.setattr("app.cli.worker_commands.time.sleep", pause)
    monkeypatch.setenv("ARENA_API_KEY", _key(arena))
    result = runner.invoke(cli, ["jobs", "--server", url, "--follow", "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert reads == [1] and "done" in result.output
