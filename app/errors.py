"""Service-level exceptions. Each carries its HTTP status; app/main.py maps them in one place."""

from __future__ import annotations

from typing import Any


class ArenaError(Exception):
    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class Unauthorized(ArenaError):
    status_code = 401


class Forbidden(ArenaError):
    status_code = 403


class NotFound(ArenaError):
    status_code = 404


class Conflict(ArenaError):
    status_code = 409


class Gone(ArenaError):
    status_code = 410


class TooLarge(ArenaError):
    status_code = 413


class InvalidInput(ArenaError):
    status_code = 422


class RateLimited(ArenaError):
    status_code = 429
