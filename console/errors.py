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


class Collision(Conflict):
    """Another agent replied since the writer opened the conversation (send again with confirm)."""


class Invalid(ConsoleError):
    status = 422


class Unavailable(ConsoleError):
    """Something the answer needs (the file store) cannot be reached now: try again later."""

    status = 503

    def __init__(self, message: str, retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_body(status: int, message: str) -> dict[str, object]:
    """The JSON body of an error answer. A 422 has the documented validation shape (FastAPI's
    `HTTPValidationError`: a list of {loc, msg, type}), whichever layer refused the input; the
    field a message starts with (`cursor: ...`) becomes its `loc`."""
    if status != 422:
        return {"detail": message}
    field, sep, _ = message.partition(": ")
    loc = field.split(".") if sep and field and " " not in field else ["body"]
    return {"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}
