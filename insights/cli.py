"""`helpline report`: the report figures as rich tables, JSON or CSV, and the weekly digest
(the Typer app `report_commands(redis_url_of)` builds; the `helpline` command line passes how to
read the configuration's Redis URL, which this package does not know)."""

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

from .errors import InsightsError
from .reader import CubeReader
from .render import to_csv
from .reports import REPORTS, Query, Report, run_report

T = TypeVar("T")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="helpline.toml")]
RedisOption = Annotated[str | None, typer.Option("--redis-url", help="default: redis.url of the configuration")]
#: The configuration's Redis URL (None: the default file); raises InsightsError if it is invalid
#: or names none.
RedisUrlOf = Callable[[Path | None], str]


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


def report_commands(redis_url_of: RedisUrlOf) -> typer.Typer:
    """The `report` commands; without --redis-url they ask `redis_url_of` for the configured one."""
    app = typer.Typer(help="Support metrics: volumes, response times, SLA, CSAT, topics.", no_args_is_help=True)

    def _day(option: str, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{option}: {value!r} is not a day like 2026-12-01") from None

    @app.command("show")
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
            last = _day("--end", end) if end else datetime.now().date()
            first = _day("--start", start) if start else last - timedelta(days=6)
            q = Query(start=first, end=last, platform=platform, team=team, language=language)
            url = redis_url or redis_url_of(config)
        except (ValueError, InsightsError) as exc:
            typer.echo(f"helpline report: {exc}", err=True)
            raise typer.Exit(2) from None
        result = _run(url, lambda reader: run_report(reader, name, q))
        if as_json:
            typer.echo(result.model_dump_json(indent=2))
        elif as_csv:
            if table is not None and table not in result.tables():
                typer.echo(
                    f"helpline report: {name} has no table {table!r}; it has: {', '.join(result.tables())}", err=True
                )
                raise typer.Exit(2)
            typer.echo(to_csv(result, table), nl=False)
        else:
            print_tables(result, Console(width=int(os.environ.get("COLUMNS", "160"))))

    @app.command("digest")
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
            url = redis_url or redis_url_of(config)
        except InsightsError as exc:
            typer.echo(f"helpline report: {exc}", err=True)
            raise typer.Exit(2) from None
        result = _run(url, lambda reader: weekly_digest(reader, week, platform, team, language))
        typer.echo(result.html() if html else result.markdown(), nl=False)

    return app
