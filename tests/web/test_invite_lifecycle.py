"""Invite links expire, run out of uses and can be revoked; annotator sessions expire."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.models import Annotator, AnnotatorSession, utcnow
from tests.web.conftest import Annotator as Browser
from tests.web.conftest import make_study, path_of


def _invite(arena, study, **fields) -> dict:
    response = arena.client.post(
        f"/api/studies/{study['id']}/invites",
        json={"count": 1, **fields},
        headers=arena.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()[0]


def _open(arena, url: str):
    return arena.client.get(path_of(url), follow_redirects=False)


def _statuses(arena, study) -> dict[str, dict]:
    listed = arena.client.get(f"/api/studies/{study['id']}/invites", headers=arena.headers)
    assert listed.status_code == 200, listed.text
    return {row["handle"]: row for row in listed.json()}


def test_an_invite_opens_at_most_max_uses_times(pool):
    study = make_study(pool)
    invite = _invite(pool, study, max_uses=2)
    assert _open(pool, invite["url"]).status_code == 303
    assert _open(pool, invite["url"]).status_code == 303
    third = _open(pool, invite["url"])
    assert third.status_code == 410 and "used 2 time(s)" in third.text
    row = _statuses(pool, study)[invite["handle"]]
    assert (row["uses"], row["max_uses"], row["status"]) == (2, 2, "used up")


def test_an_invite_expires(pool):
    study = make_study(pool)
    invite = _invite(pool, study, expires_in_days=1)
    row = _statuses(pool, study)[invite["handle"]]
    assert row["status"] == "active" and row["expires_at"] is not None
    with pool.session_factory() as session:
        annotator = session.query(Annotator).filter_by(handle=invite["handle"]).one()
        annotator.invite_expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    expired = _open(pool, invite["url"])
    assert expired.status_code == 410 and "expired" in expired.text
    assert _statuses(pool, study)[invite["handle"]]["status"] == "expired"


def test_invites_expire_by_default_unless_asked_not_to(pool):
    study = make_study(pool)
    default = _invite(pool, study)
    forever = _invite(pool, study, expires_in_days=None)
    rows = _statuses(pool, study)
    assert rows[default["handle"]]["expires_at"] is not None  # ARENA_INVITE_TTL_DAYS (30)
    assert rows[forever["handle"]]["expires_at"] is None
    bad = pool.client.post(
        f"/api/studies/{study['id']}/invites",
        json={"count": 1, "max_uses": 0},
        headers=pool.headers,
    )
    assert bad.status_code == 422


def test_revoking_an_invite_ends_its_session_at_once(pool):
    study = make_study(pool)
    invite = _invite(pool, study)
    browser = Browser(pool.client, invite["url"])
    page = browser.start()
    assert page.field("assignment")
    revoked = pool.client.delete(
        f"/api/studies/{study['id']}/invites/{invite['handle']}", headers=pool.headers
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = browser.answer(page, choice="left")
    assert refused.status_code == 403 and "revoked" in refused.text
    assert _open(pool, invite["url"]).status_code == 410
    missing = pool.client.delete(
        f"/api/studies/{study['id']}/invites/rater-nobody", headers=pool.headers
    )
    assert missing.status_code == 404


def test_annotator_sessions_expire(pool, monkeypatch):
    study = make_study(pool)
    browser = Browser(pool.client, _invite(pool, study)["url"])
    page = browser.start()
    hours = pool.settings.annotator_session_hours
    with pool.session_factory() as session:
        for row in session.scalars(select(AnnotatorSession)):
            row.created_at = utcnow() - timedelta(hours=hours, seconds=5)
        session.commit()
    expired = browser.get(page.study_path)
    assert expired.status_code == 403 and "not signed in" in expired.text


def test_cli_creates_lists_and_revokes_invites(pool, monkeypatch):
    monkeypatch.setenv("ARENA_DATABASE_URL", pool.settings.database_url)
    study = make_study(pool)
    runner = CliRunner()
    created = runner.invoke(
        cli, ["invites", "create", "--study", study["name"], "--count", "2", "--max-uses", "1"]
    )
    assert created.exit_code == 0, created.output
    handle, url = created.stdout.splitlines()[0].split("\t")
    assert _open(pool, url).status_code == 303 and _open(pool, url).status_code == 410
    listed = runner.invoke(cli, ["invites", "list", "--study", study["name"]])
    rows = {r["handle"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert len(rows) == 2 and rows[handle]["status"] == "used up"
    revoked = runner.invoke(cli, ["invites", "revoke", "--study", study["name"], handle])
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["status"] == "revoked"
