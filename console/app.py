"""The web app: health, platform webhooks, the console API (/api/v1) and the agent console."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from helpline.announcements.api import announcements_router
from helpline.archive.database import reason
from helpline.bot_setup import help_center_site
from helpline.health.view import desk_health
from helpline.insights.metrics import metrics_router, observe_help_page
from helpline.insights.reports import Query
from helpline.insights.web import insights_router
from helpline.kb_gaps import PAGE_QUESTIONS, gap_report
from helpline.portal.article_cache import CachedArticlePages
from helpline.portal.head import HeadAsGet
from helpline.portal.web import portal_router
from helpline.routing.outage import redis_failed, redis_ok

from . import accounts_page, api_docs, canned_page, pages, review
from .actions import wake_snoozed
from .api import build_router
from .auth import require_role
from .errors import ConsoleError, Unavailable, error_body
from .front import FrontedApp
from .limits import RequestLimits
from .security import HEADERS as SECURITY_HEADERS
from .security import SecurityHeaders
from .services import Services
from .shell import Shell

log = logging.getLogger(__name__)

KB_GAPS_SHOWN = 20
KB_GAPS_WAIT_S = 5.0  # the page does not wait longer; the grouping goes on and caches its vectors
_gap_tasks: set[asyncio.Task[object]] = set()


def _gap_done(task: asyncio.Task[object]) -> None:
    _gap_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:  # retrieved: a page gave up waiting
        log.warning("KB gaps: grouping failed (%s)", type(task.exception()).__name__)


async def kb_gaps(svc: Services, q: Query) -> list[dict[str, Any]] | None:
    """The /reports page's KB gaps: the biggest groups of unanswered questions in the range."""
    task = asyncio.ensure_future(gap_report(svc.settings, svc.record, q.start, q.end, q.language, PAGE_QUESTIONS))
    _gap_tasks.add(task)  # kept until done: many new questions take a while to embed the first time
    task.add_done_callback(_gap_done)
    try:
        groups = await asyncio.wait_for(asyncio.shield(task), KB_GAPS_WAIT_S)
    except SQLAlchemyError as exc:
        log.warning("KB gaps: the record is unavailable (%s)", reason(exc, svc.record.url))
        return None
    except TimeoutError:
        log.info("KB gaps: still grouping after %.0f s; the next view uses the cached vectors", KB_GAPS_WAIT_S)
        return None
    return [g.as_row() for g in groups[:KB_GAPS_SHOWN]]


SNOOZE_SWEEP_S = 5.0


async def _snooze_waker(svc: Services, stop: asyncio.Event) -> None:
    """Reopen snoozed conversations when their time comes (every console process may run it)."""
    while not stop.is_set():
        try:
            await wake_snoozed(svc)
            redis_ok()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            redis_failed(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SNOOZE_SWEEP_S)


def create_app(svc: Services) -> FastAPI:
    """The app over the services it is given (`Services.build`)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        waker = asyncio.create_task(_snooze_waker(svc, stop))
        try:
            yield
        finally:
            stop.set()
            await waker
            await svc.record.close()

    app = FrontedApp(
        title="Helpline", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json"
    )
    app.state.console = svc
    app.add_middleware(RequestLimits)
    app.add_middleware(SecurityHeaders)  # outside the limits: a 413 or 401 from them gets the headers too
    site = help_center_site(svc.settings)
    if site is not None:  # in front of FastAPI: article pages from memory (with the same headers), /help timed
        app.add_middleware(HeadAsGet)  # behind the cache: a HEAD it does not answer is a GET without the body
        app.front = CachedArticlePages(app.behind, site=site, headers=SECURITY_HEADERS, observe=observe_help_page)

    @app.exception_handler(ConsoleError)
    async def console_error(_: Request, exc: ConsoleError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
        return JSONResponse(error_body(exc.status, exc.message), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 422 and isinstance(exc.detail, str):  # documented as a validation error
            return JSONResponse(error_body(422, exc.detail), status_code=422, headers=exc.headers)
        if pages.wants_page(request) and exc.status_code in (401, 403, 404):
            # A person's browser: the login for a signed-out page, an HTML page for the others.
            return await pages.error_page(request, svc, exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(
            Path(__file__).parent / "static" / "favicon.ico",
            media_type="image/x-icon",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/healthz", tags=["health"], responses={503: {"description": "Degraded: the reasons are in the body"}})
    async def healthz() -> JSONResponse:
        """The whole desk's health from the processes' heartbeats in Redis, answered within a
        second even when Redis hangs: 200 when everything is ok, 503 with the reasons otherwise."""
        local = await svc.health.beat(check=False)  # its components as of its last heartbeat
        desk = await desk_health(svc.client, svc.settings.accounts, local=local)
        return JSONResponse(desk.as_json(), status_code=200 if desk.status == "ok" else 503)

    app.include_router(build_router())
    app.include_router(pages.router)
    app.include_router(review.router)
    app.include_router(canned_page.router)
    app.include_router(accounts_page.router)
    shell = Shell()  # one layout and navigation for the console's pages and the mounted ones
    app.include_router(
        insights_router(svc.client, svc.settings.insights, require_role, shell=shell, gaps=partial(kb_gaps, svc))
    )
    app.include_router(
        announcements_router(
            require_role,
            client=svc.client,
            conversations=svc.store,
            accounts=svc.settings.accounts,
            connectors=svc.connectors,
            settings=svc.settings.announcements,
            view_role="reader",
            shell=shell,
        )
    )
    app.include_router(
        metrics_router(svc.client, svc.settings.redis.partitions, svc.settings.accounts, svc.health.beat)
    )
    app.include_router(api_docs.router)
    if site is not None:  # the public help center, from the help-center bot's articles
        app.include_router(portal_router(site, svc.client))
    app.mount(api_docs.ASSETS_PATH, api_docs.ASSETS, name="swagger")  # before /static, which would shadow it
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for (platform, account), connector in svc.connectors.items():
        routes = list(connector.webhook_routes())
        if routes:
            app.router.routes.append(Mount(f"/webhooks/{platform}/{account}", routes=routes))
            if connector.settings.mode == "webhook":
                svc.health.track(connector, "webhook")
    return app
