"""Admin JSON API: prompt sets, as JSON or CSV."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.db import SessionDep
from app.deps.admin import AdminDep
from app.errors import InvalidInput
from app.services.catalog import prompts as service
from app.services.catalog.schemas import PromptSetCreate, PromptSetOut

router = APIRouter(prefix="/api/prompt-sets", tags=["prompts"])

PROMPT_SET_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PromptSetCreate.model_json_schema()},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "external_id,text,category\np1,a red cube on a blue sphere,composition\n",
            },
        },
    }
}


async def request_body(request: Request) -> bytes:
    """The raw body, received on the event loop (the size limit applies as it streams in)."""
    return await request.body()


@router.post("", status_code=201, response_model=PromptSetOut, openapi_extra=PROMPT_SET_DOC)
def create_prompt_set(
    _: AdminDep,
    request: Request,
    body: Annotated[bytes, Depends(request_body)],
    session: SessionDep,
    name: str | None = Query(None, max_length=200, description="set name, required for CSV"),
    description: str = Query("", max_length=10_000),
):
    """Create a prompt set from a JSON body or a CSV body (columns external_id, text, category)."""
    text = body.decode("utf-8-sig", errors="replace")
    if request.headers.get("content-type", "").startswith("text/csv"):
        if not name:
            raise InvalidInput("a CSV prompt set needs ?name=SET_NAME in the URL")
        rows = service.parse_prompts_csv(text)
    else:
        try:
            parsed = PromptSetCreate.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}; or send text/csv") from None
        except RecursionError:
            raise InvalidInput("the JSON body is nested too deeply") from None
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        name, description = parsed.name, parsed.description
        rows = service.parse_prompts_json([p.model_dump() for p in parsed.prompts])
    return service.create_prompt_set(session, name, rows, description)


@router.get("", response_model=list[PromptSetOut])
def list_prompt_sets(session: SessionDep, _: AdminDep):
    return service.list_prompt_sets(session)


@router.get("/{ref}", response_model=PromptSetOut)
def get_prompt_set(ref: str, session: SessionDep, _: AdminDep):
    return service.get_prompt_set(session, ref)


@router.delete("/{ref}", status_code=204)
def delete_prompt_set(ref: str, session: SessionDep, _: AdminDep) -> Response:
    """Delete an unused prompt set; 409 says what still uses it."""
    service.delete_prompt_set(session, service.get_prompt_set(session, ref))
    return Response(status_code=204)
