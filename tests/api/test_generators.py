"""Generators through the admin API: create, list, get, update, auth, conflicts."""

from __future__ import annotations

import pytest


def test_requests_without_a_key_are_refused(arena):
    response = arena.client.get("/api/generators")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer not-a-real-key", "Bearer arena_wrong"])
def test_wrong_keys_are_forbidden(arena, header):
    response = arena.client.get("/api/generators", headers={"Authorization": header})
    assert response.status_code == 403
    assert "not recognised" in response.json()["detail"]


def test_non_bearer_scheme_is_unauthorised(arena):
    response = arena.client.get("/api/generators", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


def test_create_list_get_update(arena):
    body = {
        "name": "sdxl-base",
        "description": "Stable Diffusion XL",
        "guidance_scale": 7.5,
        "sampler": "euler",
        "steps": 30,
        "resolution": "1024x1024",
        "checkpoint": "sd_xl_base_1.0.safetensors",
        "extra": {"scheduler": "karras"},
    }
    created = arena.client.post("/api/generators", json=body, headers=arena.headers)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["name"] == "sdxl-base" and out["guidance_scale"] == 7.5
    assert out["extra"] == {"scheduler": "karras"} and out["n_images"] == 0

    listed = arena.client.get("/api/generators", headers=arena.headers).json()
    assert [g["name"] for g in listed] == ["sdxl-base"]
    by_name = arena.client.get("/api/generators/sdxl-base", headers=arena.headers).json()
    by_id = arena.client.get(f"/api/generators/{out['id']}", headers=arena.headers).json()
    assert by_name == by_id

    patched = arena.client.patch(
        "/api/generators/sdxl-base", json={"steps": 50, "truncation": 0.7}, headers=arena.headers
    )
    assert patched.status_code == 200
    assert patched.json()["steps"] == 50 and patched.json()["sampler"] == "euler"


def test_duplicate_name_is_a_conflict(arena):
    arena.client.post("/api/generators", json={"name": "a"}, headers=arena.headers)
    response = arena.client.post("/api/generators", json={"name": "a"}, headers=arena.headers)
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    arena.client.post("/api/generators", json={"name": "b"}, headers=arena.headers)
    renamed = arena.client.patch("/api/generators/b", json={"name": "a"}, headers=arena.headers)
    assert renamed.status_code == 409
    assert len(arena.client.get("/api/generators", headers=arena.headers).json()) == 2


def test_unknown_generator_is_404(arena):
    response = arena.client.get("/api/generators/nope", headers=arena.headers)
    assert response.status_code == 404
    assert "no generator 'nope'" in response.json()["detail"]


def test_invalid_fields_are_422(arena):
    response = arena.client.post(
        "/api/generators",
        json={"name": "x", "steps": 0, "resolution": "big"},
        headers=arena.headers,
    )
    assert response.status_code == 422
    unknown = arena.client.patch("/api/generators/1", json={"colour": "red"}, headers=arena.headers)
    assert unknown.status_code in (404, 422)


def test_api_keys_can_mint_more_keys(arena):
    created = arena.client.post("/api/keys", json={"name": "ci"}, headers=arena.headers)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("arena_")
    ok = arena.client.get("/api/generators", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200
