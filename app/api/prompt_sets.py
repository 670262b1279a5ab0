"""Admin JSON API: prompt sets, as JSON or CSV."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request

from app.api.deps import AdminDep
from app.api.schemas import PromptSetCreate, PromptSetOut
from app.db import SessionDep
from app.errors import InvalidInput
from app.services import prompts as service

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


@router.post("", status_code=201, response_model=PromptSetOut, openapi_extra=PROMPT_SET_DOC)
async def create_prompt_set(
    request: Request,
    session: SessionDep,
    _: AdminDep,
    name: str | None = Query(None, description="set name, required for a CSV body"),
    description: str = Query(""),
):
    """Create a prompt set from a JSON body or a CSV body (columns external_id, text, category)."""
    body = (await request.body()).decode("utf-8-sig", errors="replace")
    if request.headers.get("content-type", "").startswith("text/csv"):
        if not name:
            raise InvalidInput("a CSV prompt set needs ?name=SET_NAME in the URL")
        rows = service.parse_prompts_csv(body)
    else:
        try:
            parsed = PromptSetCreate.model_validate(json.loads(body))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}; or send text/csv") from None
        name, description = parsed.name, parsed.description
        rows = service.parse_prompts_json([p.model_dump() for p in parsed.prompts])
    return service.create_prompt_set(session, name, rows, description)


@router.get("", response_model=list[PromptSetOut])
def list_prompt_sets(session: SessionDep, _: AdminDep):
    return service.list_prompt_sets(session)


@router.get("/{ref}", response_model=PromptSetOut)
def get_prompt_set(ref: str, session: SessionDep, _: AdminDep):
    return service.get_prompt_set(session, ref)
