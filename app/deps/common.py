"""The settings and the media store of the app serving the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.media import MediaStore
from app.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> MediaStore:
    return request.app.state.media


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[MediaStore, Depends(get_store)]
