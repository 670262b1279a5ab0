"""The OpenAPI document, made to say what the API really does.

FastAPI's default lists only 200 and a 422 whose `detail` is a list; ours answers every error
as {"detail": str} (422 adds "errors", the per-field list; app/error_handlers.py), returns
401/403/404/409/413 from services, and has schemas embedded with `$defs` that must become
components to resolve. This post-processes the generated document once, from the routes:

- every operation: 422 (a control character in the URL is refused on any route), and a
  pattern on each string parameter that says so;
- routes behind the admin key (bearer security) and the /api readers: 401 and 403;
- a path parameter, or a body naming other resources: 404; a 201 create: 409 (the name is taken); a body: 413;
- the export routes: the content types they really send.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from app.validation import CLEAN_TEXT_PATTERN

ERROR_DESCRIPTIONS = {
    "401": "missing API key (send Authorization: Bearer <key>)",
    "403": "key not recognised or revoked, or the study is not readable with these credentials",
    "404": "no such resource",
    "409": "conflicts with an existing resource (e.g. the name is taken)",
    "413": "the request, a file, an image or an archive is over a configured limit",
    "422": "invalid input; `detail` says what to fix, `errors` lists the fields",
}

# Bodies that name other resources (a study's generators and prompt set): 404 when one is absent.
NAMES_OTHERS_IN_BODY = {("post", "/api/studies")}

# Routes whose 200 is a file, not the JSON their return annotation suggests.
FILE_RESPONSES = {
    "/api/studies/{ref}/votes": ("text/csv", "application/x-ndjson"),
    "/api/studies/{ref}/export": ("text/csv", "application/json", "application/x-ndjson"),
    "/api/reference-sets/{ref}/statistics.npz": ("application/octet-stream",),
}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error response."""

    detail: str = Field(description="what went wrong and what to do about it")
    errors: list[FieldError] | None = Field(
        default=None, description="on 422 from request validation: one entry per bad field"
    )


def _hoist_defs(node: Any, hoisted: dict[str, Any]) -> Any:
    """Collect nested `$defs` into `hoisted` and point their references at components."""
    if isinstance(node, dict):
        for name, schema in node.pop("$defs", {}).items():
            hoisted.setdefault(name, _hoist_defs(schema, hoisted))
        if "patternProperties" in node:
            # pydantic's dict[constrained key, ...]: keys that miss the pattern are refused too.
            node.setdefault("additionalProperties", False)
        return {
            key: (
                value.replace("#/$defs/", "#/components/schemas/")
                if key == "$ref" and isinstance(value, str)
                else _hoist_defs(value, hoisted)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hoist_defs(item, hoisted) for item in node]
    return node


def _error_codes(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    codes = {"422"}
    if operation.get("security") or path.startswith("/api/"):
        codes |= {"401", "403"}
    if "{" in path or (method, path) in NAMES_OTHERS_IN_BODY:
        codes.add("404")
    if "201" in operation.get("responses", {}) and method == "post":
        codes.add("409")
    if method == "delete":
        codes.add("409")  # still in use, or the key making the request
    if "requestBody" in operation:
        codes.add("413")
    return sorted(codes)


def _document_clean_parameter(parameter: dict[str, Any]) -> None:
    """RequestGuard refuses control characters in any path or query value: say so."""
    if parameter.get("in") not in ("path", "query"):
        return
    param_schema = parameter.get("schema", {})
    for variant in [param_schema, *param_schema.get("anyOf", [])]:
        if variant.get("type") == "string" and not {"pattern", "enum"} & set(variant):
            variant["pattern"] = CLEAN_TEXT_PATTERN


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    hoisted: dict[str, Any] = {}
    schema = _hoist_defs(schema, hoisted)
    for name, definition in hoisted.items():
        schema["components"]["schemas"].setdefault(name, definition)
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                _document_clean_parameter(parameter)
            responses = operation.setdefault("responses", {})
            for code in _error_codes(path, method, operation):
                responses[code] = {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": error_ref}},
                }
            if path in FILE_RESPONSES and "200" in responses:
                responses["200"]["content"] = {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    if media != "application/json"
                    else {"schema": {}}
                    for media in FILE_RESPONSES[path]
                }
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
