"""Request body limits, applied before a byte of the body is read (pure ASGI).

An over-long `Content-Length` is refused with 413 before the application reads anything; a
chunked body is counted as it streams and refused once past the limit. Every route has a limit:
the platform webhooks, the JSON API and the console's forms each their own (docs/security.md).
A state-changing API call that carries no credential at all (no bearer token, no session cookie)
is answered 401 before its body is read: nothing it sends could be acted on.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .sessions import COOKIE

WEBHOOK_MAX_BYTES = 1024 * 1024  # a Telegram update or an X activity batch is a few KiB
API_MAX_BYTES = 1024 * 1024  # the largest API body is an announcement with its variants
FORM_MAX_BYTES = 64 * 1024  # console forms: a login, a reply, a note
UPLOAD_MAX_BYTES = 10 * 1024 * 1024 + 64 * 1024  # an image for a reply (console/files.py) and its form

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def body_limit(path: str) -> int:
    """The largest body a request to `path` may carry."""
    if path.startswith("/webhooks/"):
        return WEBHOOK_MAX_BYTES
    if path.startswith("/api/"):
        return UPLOAD_MAX_BYTES if path.endswith("/files") else API_MAX_BYTES
    return FORM_MAX_BYTES


def _anonymous_write(scope: Scope) -> bool:
    if scope["method"] in _SAFE_METHODS or not scope["path"].startswith("/api/"):
        return False
    headers = Headers(scope=scope)
    return "authorization" not in headers and f"{COOKIE}=" not in headers.get("cookie", "")


class RequestLimits:
    """Caps every request body by route and refuses credential-less API writes unread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limited = {
            limit: RequestBodyLimitMiddleware(app, max_body_size=limit)
            for limit in {WEBHOOK_MAX_BYTES, API_MAX_BYTES, FORM_MAX_BYTES, UPLOAD_MAX_BYTES}
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _anonymous_write(scope):
            response = JSONResponse(
                {"detail": "not logged in"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        await self._limited[body_limit(scope["path"])](scope, receive, send)
