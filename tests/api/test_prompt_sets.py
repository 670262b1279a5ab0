"""Prompt sets as JSON and CSV, and their bad inputs."""

from __future__ import annotations


def test_json_prompt_set(arena):
    body = {"name": "s1", "prompts": [{"external_id": "a", "text": "a cat", "category": "animals"}]}
    response = arena.client.post("/api/prompt-sets", json=body, headers=arena.headers)
    assert response.status_code == 201
    out = response.json()
    assert out["prompts"][0]["text"] == "a cat" and out["prompts"][0]["category"] == "animals"
    assert arena.client.get("/api/prompt-sets/s1", headers=arena.headers).json() == out


def test_csv_prompt_set(arena):
    csv_body = 'external_id,text,category\nx1,"a red cube, on a table",objects\nx2,a dog,\n'
    response = arena.client.post(
        "/api/prompt-sets?name=csvset",
        content=csv_body,
        headers={**arena.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    prompts = response.json()["prompts"]
    assert [p["text"] for p in prompts] == ["a red cube, on a table", "a dog"]
    assert prompts[1]["category"] is None


def test_csv_needs_a_name_and_columns(arena):
    headers = {**arena.headers, "Content-Type": "text/csv"}
    no_name = arena.client.post(
        "/api/prompt-sets", content="external_id,text\na,b\n", headers=headers
    )
    assert no_name.status_code == 422 and "?name=" in no_name.json()["detail"]
    bad_cols = arena.client.post(
        "/api/prompt-sets?name=x", content="foo,bar\n1,2\n", headers=headers
    )
    assert bad_cols.status_code == 422 and "external_id and text" in bad_cols.json()["detail"]
    empty_cell = arena.client.post(
        "/api/prompt-sets?name=x", content="external_id,text\na,\n", headers=headers
    )
    assert empty_cell.status_code == 422 and "line 2" in empty_cell.json()["detail"]


def test_duplicates_and_conflicts(arena):
    body = {
        "name": "d",
        "prompts": [{"external_id": "a", "text": "x"}, {"external_id": "a", "text": "y"}],
    }
    response = arena.client.post("/api/prompt-sets", json=body, headers=arena.headers)
    assert response.status_code == 422 and "appears twice" in response.json()["detail"]
    ok = {"name": "d", "prompts": [{"external_id": "a", "text": "x"}]}
    assert arena.client.post("/api/prompt-sets", json=ok, headers=arena.headers).status_code == 201
    again = arena.client.post("/api/prompt-sets", json=ok, headers=arena.headers)
    assert again.status_code == 409
    assert len(arena.client.get("/api/prompt-sets", headers=arena.headers).json()) == 1


def test_invalid_json_body(arena):
    response = arena.client.post(
        "/api/prompt-sets",
        content="{oops",
        headers={**arena.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]
