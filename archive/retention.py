"""Retention: what is older than `[retention]` says is deleted, in SQL and in Redis. Each kind is
counted in days; 0 keeps it for ever. Idempotent: run it as often as you like (the archiver role
runs it hourly; `helpline archive retention` runs it once).

- conversations: resolved conversations last updated before the cut-off, with their messages,
  events, notes, replies and delivery records (SQL and, if still there, Redis);
- delivery_records: announcements' per-recipient delivery records of announcements finished and
  created before the cut-off (their counters stay on the announcement);
- dead_letters: dead-letter entries older than the cut-off (inbound/outbound and publishing);
- insights_detail: the report cubes' per-day counters, histograms and scope sets before the cut-off,
  and the weekly rollups that hold any of those days.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis
from sqlalchemy import and_, select

from helpline.routing import keys
from helpline.routing.decode import as_text

from .database import Database
from .erasure import delete_conversations, delete_from_record
from .schema import conversations

DAY_MS = 86_400_000
WEEK = keys.INSIGHTS_WEEK
_CHUNK = 1000
_FINAL = (b"published", b"partly_failed", b"failed")


async def apply_retention(
    client: redis.Redis,
    db: Database,
    partitions: int,
    accounts: Sequence[tuple[str, str]],
    conversations_days: float,
    delivery_records_days: float,
    dead_letters_days: float,
    insights_detail_days: float,
    now_ms: int | None = None,
) -> dict[str, int]:
    """Delete what is past its retention; returns how many of each kind went."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    done = {"conversations": 0, "delivery_records": 0, "dead_letters": 0, "insights_days": 0}
    if conversations_days > 0:
        done["conversations"] = await _conversations(client, db, now_ms - int(conversations_days * DAY_MS))
    if delivery_records_days > 0:
        done["delivery_records"] = await _announcement_deliveries(client, now_ms - int(delivery_records_days * DAY_MS))
    if dead_letters_days > 0:
        cutoff = now_ms - int(dead_letters_days * DAY_MS)
        streams = [keys.dead_letters(p) for p in range(partitions)]
        streams += [keys.publish_dead_letters(platform, account) for platform, account in accounts]
        for stream in streams:
            done["dead_letters"] += int(await client.xtrim(stream, minid=str(cutoff), approximate=False))
    if insights_detail_days > 0:
        cutoff = now_ms - int(insights_detail_days * DAY_MS)
        cutoff_day = datetime.fromtimestamp(cutoff / 1000, UTC).strftime("%Y%m%d")
        done["insights_days"] = await _insights_days(client, cutoff_day)
    return done


async def _conversations(client: redis.Redis, db: Database, cutoff_ms: int) -> int:
    c = conversations.c
    total = 0
    while True:
        async with db.engine.connect() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(c.id).where(and_(c.status == "resolved", c.updated_at < cutoff_ms)).limit(_CHUNK)
                    )
                )
                .scalars()
                .all()
            )
        if not ids:
            return total
        await delete_conversations(client, ids)  # Redis first: the archiver never rewrites what Redis lacks
        await delete_from_record(db, ids)
        total += len(ids)


async def _announcement_deliveries(client: redis.Redis, cutoff_ms: int) -> int:
    removed = 0
    for raw_id in await client.zrangebyscore(keys.announcements_index(), "-inf", f"({cutoff_ms}"):
        aid = as_text(raw_id)
        if await client.hget(keys.announcement(aid), "state") not in _FINAL:  # type: ignore[misc]
            continue
        ids = [d.decode() for d in await client.lrange(keys.announcement_deliveries(aid), 0, -1)]  # type: ignore[misc]
        for start in range(0, len(ids), _CHUNK):
            await client.delete(*[keys.announcement_delivery(aid, d) for d in ids[start : start + _CHUNK]])
        await client.delete(keys.announcement_deliveries(aid))
        removed += len(ids)
    return removed


async def _insights_days(client: redis.Redis, cutoff_day: str) -> int:
    """Days before the cut-off go with their cells; so does each week rollup that holds one of
    them. A week cut in part is marked in the index first (units[week] = 0), so the recorder stops
    adding to it and the reader sums its remaining days one by one: figures stay exact."""
    prefix = keys.insights_scopes("")
    days, weeks = [], set()
    async for raw in client.scan_iter(match=prefix + "*", count=1000):
        unit = as_text(raw)[len(prefix) :]
        if len(unit) == 8 and unit.isdigit() and unit < cutoff_day:
            days.append(unit)
        elif unit.startswith(WEEK) and unit[len(WEEK) :] < cutoff_day:
            weeks.add(unit)
    weeks |= {
        name
        for raw in await client.hkeys(keys.insights_units())  # type: ignore[misc]
        if (name := raw.decode()).startswith(WEEK) and name[len(WEEK) :] < cutoff_day
    }
    for week in sorted(weeks):
        last = (datetime.strptime(week[len(WEEK) :], "%Y%m%d") + timedelta(days=6)).strftime("%Y%m%d")
        if last < cutoff_day:  # every day of it goes
            await client.hdel(keys.insights_units(), week)  # type: ignore[misc]
        else:
            await client.hset(keys.insights_units(), week, "0")  # type: ignore[misc]
        await _delete_unit(client, week)
    for day in days:
        await _delete_unit(client, day)
        await client.hdel(keys.insights_units(), day)  # type: ignore[misc]
    return len(days)


async def _delete_unit(client: redis.Redis, unit: str) -> None:
    doomed = [key async for key in client.scan_iter(match=keys.insights_counters(unit, "*", "*"), count=1000)]
    doomed += [key async for key in client.scan_iter(match=keys.insights_histograms(unit, "*"), count=1000)]
    doomed.append(keys.insights_scopes(unit))
    for start in range(0, len(doomed), _CHUNK):
        await client.delete(*doomed[start : start + _CHUNK])
