"""Who is asking: the address that per-address rate limits count.

X-Forwarded-For is believed only from the proxies named in ARENA_TRUSTED_PROXIES (default:
none). uvicorn applies that rule before the app runs (`arena serve` passes the setting as its
forwarded-allow-ips, see uvicorn_options), so here the peer it reports is already the client.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from app.settings import Settings


def client_address(request: Request) -> str:
    """The client's IP as the server resolved it (the TCP peer unless a trusted proxy said so)."""
    return request.client.host if request.client else "unknown"


def trusted_proxies(settings: Settings) -> list[str]:
    return [part.strip() for part in settings.trusted_proxies.split(",") if part.strip()]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy settings from ours; uvicorn alone would trust 127.0.0.1 by default."""
    proxies = trusted_proxies(settings)
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or ""}
