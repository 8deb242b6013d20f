"""The web app: health, platform webhooks (and, as it grows, the API and the agent console)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import Mount

from helpline.runtime import Parts


def create_app(parts: Parts) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="Helpline", version="0.1.0", lifespan=lifespan, docs_url="/api/docs",
                  openapi_url="/openapi.json")
    app.state.parts = parts

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        try:
            await parts.client.ping()
            redis_ok = True
        except (redis.ConnectionError, redis.TimeoutError):
            redis_ok = False
        connectors = [c.health().model_dump(mode="json") for c in parts.connectors.values()]
        ok = redis_ok and all(c["status"] != "down" for c in connectors)
        return JSONResponse({"status": "ok" if ok else "degraded", "redis": redis_ok, "connectors": connectors},
                            status_code=200 if ok else 503)

    for (platform, account), connector in parts.connectors.items():
        routes = list(connector.webhook_routes())
        if routes:
            app.router.routes.append(Mount(f"/webhooks/{platform}/{account}", routes=routes))
    return app
