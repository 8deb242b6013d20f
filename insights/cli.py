"""`helpline report`: the report figures as rich tables, JSON or CSV, and the weekly digest."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import redis.asyncio as redis
import typer
from rich.console import Console
from rich.table import Table

from helpline.bench_guard import WipeOption, refusals_exit

from .errors import InsightsError
from .reader import CubeReader
from .render import to_csv
from .reports import REPORTS, Query, Report, run_report

report_app = typer.Typer(help="Support metrics: volumes, response times, SLA, CSAT, topics.",
                         no_args_is_help=True)
T = TypeVar("T")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="helpline.toml")]
RedisOption = Annotated[str | None, typer.Option("--redis-url", help="default: redis.url of the configuration")]


def _redis_url(config: Path | None, url: str | None) -> str:
    if url:
        return url
    from helpline.config import ConfigInvalid, load_settings

    try:
        settings = load_settings(config)
    except ConfigInvalid as exc:
        raise InsightsError("invalid configuration: " + "; ".join(exc.problems)) from None
    if not settings.redis.url:
        raise InsightsError("redis.url is not set (HELPLINE_REDIS__URL, REDIS_URL or --redis-url)")
    return settings.redis.url


def _run(url: str, work: Callable[[CubeReader], Awaitable[T]]) -> T:
    async def main() -> T:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return await work(CubeReader(client))
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except InsightsError as exc:
        typer.echo(f"helpline report: {exc}", err=True)
        raise typer.Exit(2) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        typer.echo(f"helpline report: cannot reach Redis: {exc}", err=True)
        raise typer.Exit(2) from None


def print_tables(report: Report, console: Console) -> None:
    for name, rows in report.tables().items():
        table = Table(title=f"{report.name}: {name}", title_justify="left")
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        for c in columns:
            table.add_column(c, justify="left" if c in ("day", "topic", "agent", "platform", "figure") else "right")
        for row in rows:
            table.add_row(*("–" if row.get(c) is None else str(row.get(c)) for c in columns))
        console.print(table)


@report_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(REPORTS)}")] = "summary",
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (default: 7 days ago)")] = None,
    end: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (default: today)")] = None,
    platform: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print one table as CSV")] = False,
    table: Annotated[str | None, typer.Option(help="with --csv: which table (default: the report's first)")] = None,
    config: ConfigOption = None,
    redis_url: RedisOption = None,
) -> None:
    """Print one report (rich tables by default)."""
    try:
        last = date.fromisoformat(end) if end else datetime.now().date()
        first = date.fromisoformat(start) if start else last - timedelta(days=6)
        q = Query(start=first, end=last, platform=platform, team=team, language=language)
        url = _redis_url(config, redis_url)
    except (ValueError, InsightsError) as exc:
        typer.echo(f"helpline report: {exc}", err=True)
        raise typer.Exit(2) from None
    result = _run(url, lambda reader: run_report(reader, name, q))
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    elif as_csv:
        if table is not None and table not in result.tables():
            typer.echo(f"helpline report: {name} has no table {table!r}; it has: {', '.join(result.tables())}",
                       err=True)
            raise typer.Exit(2)
        typer.echo(to_csv(result, table), nl=False)
    else:
        print_tables(result, Console(width=int(os.environ.get("COLUMNS", "160"))))


@report_app.command("digest")
def digest(
    week: Annotated[str, typer.Option(help="ISO week, e.g. 2026-W47")],
    html: Annotated[bool, typer.Option("--html", help="e-mailable HTML instead of Markdown")] = False,
    platform: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option()] = None,
    config: ConfigOption = None,
    redis_url: RedisOption = None,
) -> None:
    """The week's figures vs the week before, and the topics that grew the most."""
    from .digest import weekly_digest

    try:
        url = _redis_url(config, redis_url)
    except InsightsError as exc:
        typer.echo(f"helpline report: {exc}", err=True)
        raise typer.Exit(2) from None
    result = _run(url, lambda reader: weekly_digest(reader, week, platform, team, language))
    typer.echo(result.html() if html else result.markdown(), nl=False)



def bench_reports(
    conversations: Annotated[int, typer.Option(help="conversations of pre-aggregated history")] = 1_000_000,
    verify_sample: Annotated[int, typer.Option(help="conversations counted by the recorder to check the build")
                             ] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    redis_url: Annotated[str | None, typer.Option(help="use this Redis; it is wiped (default: a private one)")
                         ] = None,
    yes: WipeOption = False,
) -> None:
    """Report queries over a large pre-aggregated history; one JSON object with timings in ms."""
    import json

    from .bench import reports_benchmark

    with refusals_exit():
        result = asyncio.run(reports_benchmark(conversations, redis_url, verify_sample, wipe=yes))
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))
