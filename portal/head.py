"""HEAD on any help-center address answers as GET would, without the body (RFC 9110 9.3.2).

The routes are declared for GET only, and the framework's routes answer HEAD with 405, while an
article kept in memory (`article_cache`) answered it with 200: a crawler or link checker saw the
same page both ways. This layer, inside the article cache, runs a HEAD under /help/ as a GET
(status, headers and Content-Length of the GET, whatever answers: a page, a redirect, a 404, an
error handler) and drops the body it would send.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or not scope["path"].startswith("/help/"):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
