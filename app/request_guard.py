"""ASGI middleware: a request-size limit on the bytes as they arrive, and clean URLs.

The size limit counts the body while it streams in, so a chunked request (no Content-Length)
or one whose Content-Length lies cannot pass more than ARENA_MAX_REQUEST_BYTES. The URL check
refuses control characters in the path and the query string before any route sees them
(PostgreSQL cannot compare text holding NUL, so such a lookup was a 500).
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.validation import control_character


def too_large_message(limit: int, declared: int | None = None) -> str:
    size = f"is {declared:,} bytes" if declared is not None else f"exceeds {limit:,} bytes"
    return (
        f"the request {size}; the limit is {limit:,} (ARENA_MAX_REQUEST_BYTES); "
        "split the upload into several batches"
    )


class RequestGuard:
    def __init__(self, app: ASGIApp, max_request_bytes: int) -> None:
        self.app = app
        self.limit = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _url_problem(scope)
        if problem:
            await _reply(send, 422, problem)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            declared = int(length) if length.isdigit() else None
            if declared is None:
                await _reply(send, 400, "the Content-Length header is not a whole number")
                return
            if declared > self.limit:
                await _reply(send, 413, too_large_message(self.limit, declared))
                return
        received = 0
        limit = self.limit

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route that reads the body (an HTTPException, so that
                    # FastAPI's body parsing passes it on): answered 413, the work rolled back.
                    raise HTTPException(413, too_large_message(limit))
            return message

        await self.app(scope, counted_receive, send)


def _url_problem(scope: Scope) -> str | None:
    path = scope.get("path", "")
    bad = control_character(path)
    if bad:
        return f"the URL path contains the control character {bad}; remove it"
    query = scope.get("query_string", b"")
    if query:
        try:
            text = unquote(query.decode("latin-1"), errors="strict")
        except UnicodeDecodeError:
            return "the query string is not valid UTF-8 once percent-decoded"
        bad = control_character(text.replace("+", " "))
        if bad:
            return f"the query string contains the control character {bad}; remove it"
    return None


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
