"""The OpenAPI document says what the API does: bearer security, every error response with the
schema it really has, references that resolve, and file downloads with their content types."""

from __future__ import annotations

import json

from app.main import create_app
from app.settings import Settings


def _schema(tmp_path) -> dict:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.db'}",
        media_dir=tmp_path / "media",
        secret_key="test",
    )
    return create_app(settings).openapi()


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_security_errors_and_references(tmp_path):
    schema = _schema(tmp_path)
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an admin key from `arena keys create`",
    }
    components = schema["components"]["schemas"]
    for ref in set(_refs(schema)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in components, f"{ref} does not resolve"
    assert "$defs" not in json.dumps(schema)
    assert components["ErrorOut"]["properties"]["detail"]["type"] == "string"

    operations = [(p, m, op) for p, ops in schema["paths"].items() for m, op in ops.items()]
    assert len(operations) >= 30
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "422" in responses, (method, path)
        if path.startswith("/api/"):
            assert {"401", "403"} <= responses.keys(), (method, path)
        for code, response in responses.items():
            if code.startswith("4"):
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)

    generators = schema["paths"]["/api/generators"]["post"]
    assert generators["security"] == [{"ApiKey": []}]
    assert {"409", "413"} <= generators["responses"].keys()
    assert "404" in schema["paths"]["/api/studies"]["post"]["responses"]
    votes = schema["paths"]["/api/studies/{ref}/votes"]["get"]["responses"]["200"]["content"]
    assert set(votes) == {"text/csv", "application/x-ndjson"}
