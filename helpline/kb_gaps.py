"""The KB gaps report, assembled: the record's unanswered questions (`archive.gaps`) grouped by
meaning with the help-center bot's embedder (`bots.gaps`). Shared by `helpline kb gaps` and the
console's /reports page."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import DBAPIError

from helpline.archive.database import Database
from helpline.archive.errors import RecordError
from helpline.archive.gaps import unanswered_questions
from helpline.bots.dense import default_cache_dir
from helpline.bots.gaps import Gap, cluster
from helpline.bots.options import HelpCenterOptions

from .bot_setup import _embedder, help_center_articles
from .config import Settings

PAGE_QUESTIONS = 1000  # the page groups the newest this many (the command line up to 5000)
_LOCK = asyncio.Lock()  # one grouping at a time: the in-process model is not shared across threads


def _ms(day: date, zone: ZoneInfo) -> int:
    """The start of a day in the desk's zone, epoch ms."""
    return int(datetime.combine(day, time.min, tzinfo=zone).timestamp() * 1000)


async def gap_report(
    settings: Settings, db: Database, start: date, end: date, language: str | None = None, limit: int = 5000
) -> list[Gap]:
    """Unanswered questions handed off from `start` to `end` (inclusive), grouped. The days are the
    desk's, in `[insights] timezone` like every report on the page."""
    zone = ZoneInfo(settings.insights.timezone)
    questions = await unanswered_questions(db, _ms(start, zone), _ms(end + timedelta(days=1), zone), language, limit)
    if not questions:
        return []
    options = next((o for o in settings.bots.values() if isinstance(o, HelpCenterOptions)), None)
    embedder = _embedder(options.embeddings) if options is not None else None
    kb = help_center_articles(settings)
    titles = [a.title for a in kb.articles] if kb is not None else []
    async with _LOCK:
        return await asyncio.to_thread(cluster, questions, embedder, titles, default_cache_dir())


def gaps_command(
    config: Annotated[str | None, typer.Option("--config", "-c", help="helpline.toml")] = None,
    days: Annotated[
        int, typer.Option(min=1, max=366, help="Look back this many days (\\[insights] timezone), today included.")
    ] = 30,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Only this language.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Show the biggest this many groups.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """KB gaps: questions handed off because no article answered them, grouped by meaning per
    language, biggest first, with sample questions — what to write next."""
    from pathlib import Path

    from helpline.archive.cli import record_failure

    from .cli import settings_or_exit

    settings = settings_or_exit(Path(config) if config else None)
    end = datetime.now(ZoneInfo(settings.insights.timezone)).date()
    start = end - timedelta(days=days - 1)

    async def run() -> list[Gap]:
        db = Database(settings.database.url, create=False)
        try:
            return await gap_report(settings, db, start, end, language)
        finally:
            await db.close()

    try:
        gaps = asyncio.run(run())
    except (DBAPIError, RecordError) as exc:  # as `helpline archive status` says it
        raise record_failure(settings, exc) from None
    shown = gaps[:top]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "questions": sum(g.count for g in gaps),
                    "groups": len(gaps),
                    "gaps": [g.as_row() for g in shown],
                },
                ensure_ascii=False,
            )
        )
        return
    if not gaps:
        typer.echo(f"no unanswered questions from {start} to {end}")
        return
    typer.echo(f"{sum(g.count for g in gaps)} unanswered questions in {len(gaps)} groups, {start} to {end}")
    for g in shown:
        typer.echo(f"{g.language}  {g.count:>5}  " + " | ".join(g.samples))
