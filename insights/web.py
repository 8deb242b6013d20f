"""HTTP: JSON and CSV reports, the /reports page. The console mounts `insights_router`, passing
its `require_role` so every route needs the supervisor role, and its `shell` so the page renders
inside the product's shared layout and navigation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import redis.asyncio as redis
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Query as Param
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from jinja2 import ChoiceLoader, Environment
from pydantic import ValidationError

from helpline.base.web import RequireRole, Shell

from .cube import WILDCARD
from .errors import BadRange, UnknownReport
from .reader import CubeReader
from .render import TEMPLATES, all_reports, charts, to_csv
from .reports import REPORTS, Query, run_report
from .settings import InsightsSettings

SECTIONS = (
    ("heatmap", "Volume by weekday and hour"),
    ("response_times", "Response times"),
    ("sla", "SLA compliance"),
    ("csat", "Satisfaction trend"),
    ("csat_distribution", "Satisfaction ratings"),
    ("topics", "Top topics"),
    ("channels", "Channel mix"),
)
# Reports shown as tables: (report, heading, [(column, label)]).
TABLES = (
    (
        "agents",
        "Agents",
        [
            ("agent", "Agent or bot"),
            ("replies", "Replies"),
            ("resolved", "Resolved"),
            ("frt_avg_s", "First response, average (s)"),
            ("nrt_avg_s", "Next response, average (s)"),
            ("csat_avg", "Satisfaction (1-5)"),
            ("csat_responses", "Ratings"),
        ],
    ),
    (
        "articles",
        "Help-center articles: did it solve it?",
        [
            ("article", "Article"),
            ("answered", "Conversations answered"),
            ("helpful", "Bot: solved"),
            ("not_helpful", "Bot: not solved"),
            ("helpful_rate", "Bot: solved rate"),
            ("page_helpful", "Help center: helpful"),
            ("page_not_helpful", "Help center: not helpful"),
            ("page_helpful_rate", "Help center: helpful rate"),
        ],
    ),
    (
        "backlog",
        "Backlog now",
        [("gauge", "Conversations"), ("dimension", "By"), ("value", "Which"), ("count", "Count")],
    ),
)
DEFAULT_DAYS = 7
#: The KB gaps section's rows for a query (language, count, samples, conversations); None when the
#: record cannot be read. Given by the console, which has the record and the help-center bot.
GapsProvider = Callable[[Query], Awaitable[list[dict[str, Any]] | None]]


def page_templates(shell: Shell | None) -> tuple[Environment, str]:
    """Our templates, then the shell's (a ChoiceLoader), and the layout the page extends: the
    shell's, or our bare layout.html when mounted without one."""
    if shell is None:
        return TEMPLATES, "layout.html"
    own = TEMPLATES.loader
    assert own is not None
    return TEMPLATES.overlay(loader=ChoiceLoader([own, shell.loader])), shell.layout


def insights_router(
    client: redis.Redis,
    settings: InsightsSettings,
    require_role: RequireRole,
    prefix: str = "",
    shell: Shell | None = None,
    gaps: GapsProvider | None = None,
) -> APIRouter:
    """The report routes over the cube in Redis (`client`), days in `settings.timezone`."""
    reader = CubeReader(client)
    zone = ZoneInfo(settings.timezone)
    supervisor = require_role("supervisor")  # one dependency object: FastAPI runs it once per request
    router = APIRouter(dependencies=[Depends(supervisor)], tags=["reports"])
    env, layout = page_templates(shell)

    def query(
        start: date | None, end: date | None, platform: str | None, team: str | None, language: str | None
    ) -> Query:
        today = datetime.now(zone).date()
        end = end or today
        try:
            return Query(
                start=start or end - timedelta(days=DEFAULT_DAYS - 1),
                end=end,
                platform=platform or None,
                team=team or None,
                language=language or None,
            )
        except (BadRange, ValidationError) as exc:
            raise HTTPException(422, str(exc)) from None

    @router.get("/api/v1/reports/{name}")
    async def report(
        name: str,
        start: date | None = None,
        end: date | None = None,
        platform: str | None = None,
        team: str | None = None,
        language: str | None = None,
        table: str | None = Param(default=None, description="CSV: which table (default: the first)"),
    ) -> Any:
        as_csv = name.endswith(".csv")
        name = name.removesuffix(".csv")
        q = query(start, end, platform, team, language)
        try:
            result = await run_report(reader, name, q)
        except UnknownReport:
            raise HTTPException(404, f"unknown report {name!r}; known: {', '.join(REPORTS)}") from None
        if not as_csv:
            return JSONResponse(result.model_dump(mode="json"))
        tables = result.tables()
        if table is not None and table not in tables:
            raise HTTPException(404, f"report {name!r} has no table {table!r}; it has: {', '.join(tables)}")
        chosen = table or next(iter(tables))
        return PlainTextResponse(
            to_csv(result, chosen),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{chosen}.csv"'},
        )

    @router.get("/reports", response_class=HTMLResponse)
    async def page(
        request: Request,
        who: Any = Depends(supervisor),  # noqa: B008
        start: date | None = None,
        end: date | None = None,
        platform: str | None = None,
        team: str | None = None,
        language: str | None = None,
    ) -> HTMLResponse:
        q = query(start, end, platform, team, language)
        page_reader = reader.page()  # the charts and the filter choices read the same keys once
        reports = await all_reports(page_reader, q)
        scopes = await page_reader.scopes(q.days)
        options = {
            "platforms": sorted({p for p, _, _ in scopes if p != WILDCARD}),
            "teams": sorted({t for _, t, _ in scopes if t != WILDCARD}),
            "languages": sorted({lang for _, _, lang in scopes if lang != WILDCARD}),
        }
        params = {k: v for k, v in q.model_dump(mode="json").items() if v}
        chrome = await shell.context(request, who) if shell else {}
        html = env.get_template("reports.html").render(
            **chrome,
            layout=layout,
            q=q,
            reports=reports,
            charts=charts(reports),
            sections=SECTIONS,
            tables=TABLES,
            options=options,
            gaps=await gaps(q) if gaps else [],
            has_gaps=gaps is not None,
            base=prefix,
            query_string=urlencode(params),
        )
        return HTMLResponse(html)

    return router
