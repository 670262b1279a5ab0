"""Admin keys: listed without their secret, revoked through the API or the CLI, refused at once."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.errors import Conflict


def _new_key(arena, name: str) -> tuple[int, dict[str, str]]:
    created = arena.client.post("/api/keys", json={"name": name}, headers=arena.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], {"Authorization": f"Bearer {body['key']}"}


def test_keys_are_listed_without_the_key(arena):
    key_id, _ = _new_key(arena, "laptop")
    listed = arena.client.get("/api/keys", headers=arena.headers)
    assert listed.status_code == 200
    rows = {row["id"]: row for row in listed.json()}
    assert rows[key_id]["name"] == "laptop" and rows[key_id]["revoked_at"] is None
    assert all("key" not in row and "key_hash" not in row for row in rows.values())


def test_a_revoked_key_stops_working_at_once(arena):
    key_id, laptop = _new_key(arena, "laptop")
    assert arena.client.get("/api/generators", headers=laptop).status_code == 200
    revoked = arena.client.delete(f"/api/keys/{key_id}", headers=arena.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = arena.client.get("/api/generators", headers=laptop)
    assert refused.status_code == 403 and "revoked" in refused.json()["detail"]
    # The other key still works; revoking twice is harmless.
    assert arena.client.get("/api/generators", headers=arena.headers).status_code == 200
    assert arena.client.delete(f"/api/keys/{key_id}", headers=arena.headers).status_code == 200


def test_the_last_active_key_and_the_key_in_use_are_kept(arena):
    (only,) = arena.client.get("/api/keys", headers=arena.headers).json()
    refused = arena.client.delete(f"/api/keys/{only['id']}", headers=arena.headers)
    assert refused.status_code == 409 and "this request uses" in refused.json()["detail"]
    _key_id, laptop = _new_key(arena, "laptop")
    # With another key the first one can go, but not the last one left.
    assert arena.client.delete(f"/api/keys/{only['id']}", headers=laptop).status_code == 200
    with arena.session_factory() as session:
        from app.services.api_keys import revoke_api_key

        with pytest.raises(Conflict, match="last active key"):
            revoke_api_key(session, _key_id)
    assert arena.client.delete("/api/keys/999", headers=laptop).status_code == 404


def test_cli_lists_and_revokes(arena, monkeypatch):
    monkeypatch.setenv("ARENA_DATABASE_URL", arena.settings.database_url)
    key_id, laptop = _new_key(arena, "laptop")
    runner = CliRunner()
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert names == ["tests", "laptop"]
    revoked = runner.invoke(cli, ["keys", "revoke", str(key_id)])
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    assert arena.client.get("/api/generators", headers=laptop).status_code == 403
    missing = runner.invoke(cli, ["keys", "revoke", "999"])
    assert missing.exit_code == 2 and "no API key 999" in missing.output
