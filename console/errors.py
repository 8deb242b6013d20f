"""Errors the console's actions raise; routes turn them into HTTP answers with the same status."""

from __future__ import annotations


class ConsoleError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ConsoleError):
    status = 404


class Forbidden(ConsoleError):
    status = 403


class Conflict(ConsoleError):
    """The action cannot happen now (agent offline or full, a duplicate still in flight)."""

    status = 409


class Invalid(ConsoleError):
    status = 422
