"""`helpline report`: tables, JSON, CSV, and the weekly digest in Markdown and HTML."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis
from typer.testing import CliRunner

from helpline.cli import app
from helpline.insights.digest import week_range
from helpline.insights.errors import BadRange
from helpline.insights.recorder import InsightsRecorder
from helpline.routing.models import EventType
from tests.insights.helpers import ev, opened, seed
from tests.redis_server import RedisServer

runner = CliRunner()
MON = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # Monday of 2026-W47


async def two_weeks(r: redis.Redis) -> None:
    """Week 46: one "fees" conversation; week 47: two "withdrawal" and one "fees"."""
    placed = [
        ("0-1", MON - timedelta(days=7), "fees"),
        ("1-2", MON, "withdrawal"),
        ("2-3", MON + timedelta(days=1), "withdrawal"),
        ("3-4", MON + timedelta(days=2), "fees"),
    ]
    for cid, at, label in placed:
        await seed(
            r,
            cid,
            messages=[at],
            events=[
                *opened(cid, at, labels=[label]),
                ev(cid, EventType.REPLY_QUEUED, at + timedelta(minutes=4), actor="agent:kim"),
            ],
        )
    await InsightsRecorder(r).process([c for c, _, _ in placed])


async def invoke(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, app, ["report", *args])
    return result.exit_code, result.output


async def test_show_as_table_json_and_csv(r: redis.Redis, redis_server: RedisServer) -> None:
    await two_weeks(r)
    week = ["--start", "2026-11-16", "--end", "2026-11-22", "--redis-url", redis_server.url]
    code, out = await invoke("show", "summary", *week, "--json")
    assert code == 0 and json.loads(out)["figures"]["opened"] == 3
    code, out = await invoke("show", "topics", *week, "--csv")
    assert code == 0 and out.splitlines()[:2] == ["topic,kind,count,previous,growth", "withdrawal,label,2,0,"]
    code, out = await invoke("show", "sla", *week, "--csv", "--table", "sla_by_day")
    assert code == 0 and out.splitlines()[0] == "day,met,breached,compliance"
    code, out = await invoke("show", "sla", *week, "--csv", "--table", "nope")
    assert code == 2 and "sla_targets" in out
    code, out = await invoke("show", "summary", *week)
    assert code == 0 and "opened" in out and "frt_avg_s" in out and "240" in out
    code, out = await invoke("show", "nope", *week)
    assert code == 2 and "unknown report 'nope'" in out


async def test_weekly_digest_lists_figures_and_growing_topics(r: redis.Redis, redis_server: RedisServer) -> None:
    await two_weeks(r)
    code, md = await invoke("digest", "--week", "2026-W47", "--redis-url", redis_server.url)
    assert code == 0
    assert "| Conversations opened | 3 | 1 |" in md and "| First response p50 |" in md
    growing = md.split("## Topics that grew the most")[1]
    assert "1. withdrawal: 2 (previous week 0)" in growing and "fees" not in growing  # 1 -> 1: no growth
    code, html = await invoke("digest", "--week", "2026-W47", "--html", "--redis-url", redis_server.url)
    assert code == 0 and html.startswith("<!doctype html>") and "<script" not in html
    assert "<li>withdrawal: 2 (previous week 0)</li>" in html
    code, out = await invoke("digest", "--week", "2026-47", "--redis-url", redis_server.url)
    assert code == 2 and "ISO week" in out


def test_week_range() -> None:
    assert week_range("2026-W47") == (datetime(2026, 11, 16).date(), datetime(2026, 11, 22).date())
    with pytest.raises(BadRange):
        week_range("2026-W54")


async def test_a_day_that_is_not_one_names_its_option(redis_server: RedisServer) -> None:
    code, out = await invoke("show", "summary", "--start", "2026-13-01", "--redis-url", redis_server.url)
    assert code == 2 and out == "helpline report: --start: '2026-13-01' is not a day like 2026-12-01\n"
    code, out = await invoke("show", "summary", "--end", "yesterday", "--redis-url", redis_server.url)
    assert code == 2 and out == "helpline report: --end: 'yesterday' is not a day like 2026-12-01\n"
