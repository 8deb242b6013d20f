"""The console's application with one layer in front of the framework.

For every request FastAPI does some work before its middleware runs (the root path, a check
whether OpenTelemetry is configured, the error middleware's wrapper): about as much as the help
center's whole answer for an article page kept in memory (`portal.article_cache`), which is what
many concurrent visitors ask for. A layer set as `front` sees every request first (lifespan
included) and passes what it does not answer to the framework through `behind`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send


class FrontedApp(FastAPI):
    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def behind(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The framework and everything in it, as if there were no front."""
        await FastAPI.__call__(self, scope, receive, send)
