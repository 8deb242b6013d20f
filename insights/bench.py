"""`helpline bench reports`: report queries over a million conversations of pre-aggregated data.

Building a million histories through the router would measure the router, not the reports, so
the aggregates are built directly: seeded synthetic conversations (`synthetic.py`) are folded
by the recorder's own pure code (`fold`, `rating_increments`, `fan_out`) and written with
pipelined HSETs. Each template history is placed in several weeks (shifted by whole weeks, in
zones without daylight saving and with no holidays, so its increments shift exactly), with a
per-topic multiplicity so topics trend. To keep this honest, a sample of placements is first
written to Redis as real conversations (hash, events, messages), counted by the recorder and
the rating API, and compared cell by cell with the direct build of the same placements.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as redis

from helpline.routing import keys

from .buckets import day_str
from .cube import Cells, Increment, fan_out
from .fold import Context, State, fold, merge, message_item
from .ratings import Rating, RatingStore, rating_increments
from .reader import CubeReader
from .recorder import InsightsRecorder
from .render import all_reports, charts
from .reports import MAX_DAYS, REPORTS, Query, Report
from .settings import InsightsSettings
from .synthetic import Template, policies, team_hours, templates, week_multiplicity
from .worker import InsightsWorker

WEEKS = 10
ZONE = "Asia/Seoul"  # the reporting zone: day buckets and the heatmap's hours
PARTITIONS = 16
WEEK_MS = 7 * 86_400_000
Key = tuple[int, str, str, str, str, str]  # day ordinal (-1: backlog), platform, team, language, dim, field


class Builder:
    """Folds templates into exact-scope cells keyed by day ordinal, then places them by week."""

    def __init__(self) -> None:
        self.zone = ZoneInfo(ZONE)
        self.policies = policies()
        self.hours = team_hours()
        self._ordinals: dict[str, int] = {}

    def increments(self, t: Template, cid: str) -> list[Increment]:
        ctx = Context(
            platform=t.platform,
            account=t.account,
            language=t.language,
            zone=self.zone,
            policies=self.policies,
            hours=self.hours,
        )
        items = merge([message_item(m * 1000) for m in t.messages], t.events)
        out = fold(State(), items, ctx)
        if t.rating is not None:
            score, at, agent = t.rating
            out += rating_increments(
                Rating(
                    conversation_id=cid,
                    score=score,
                    agent=agent,
                    team=t.team,
                    platform=t.platform,
                    account=t.account,
                    language=t.language,
                    labels=tuple(t.labels),
                    at=datetime.fromtimestamp(at / 1000, UTC),
                ),
                self.zone,
            )
        return out

    def ordinal(self, day: str) -> int:
        if day not in self._ordinals:
            self._ordinals[day] = datetime.strptime(day, "%Y%m%d").date().toordinal()
        return self._ordinals[day]

    def add(self, into: dict[Key, int], incs: Iterable[Increment], times: int = 1, shift_days: int = 0) -> None:
        for i in incs:
            day = -1 if i.day == "" else self.ordinal(i.day) + shift_days
            k = (day, i.platform, i.team, i.language, i.dim, i.field)
            into[k] = into.get(k, 0) + i.delta * times

    def place(self, groups: dict[str, dict[Key, int]], weeks: int) -> dict[Key, int]:
        """Every topic's summed template cells, once per week times the topic's multiplicity."""
        out: dict[Key, int] = defaultdict(int)
        for topic, cells in groups.items():
            for w in range(weeks):
                m = week_multiplicity(topic, w)
                if not m:
                    continue
                for (day, p, t, lang, dim, f), v in cells.items():
                    out[(day if day < 0 else day + 7 * w, p, t, lang, dim, f)] += v * m
        return out


def to_cells(exact: dict[Key, int]) -> Cells:
    incs = (
        Increment("" if d < 0 else day_str(date.fromordinal(d)), p, t, lang, dim, f, v)
        for (d, p, t, lang, dim, f), v in exact.items()
        if v
    )
    return fan_out(incs)


async def write_cells(client: redis.Redis, cells: Cells) -> None:
    async with client.pipeline(transaction=False) as pipe:
        pending = 0
        for key, fields in cells.hashes.items():
            items = [(f, v) for f, v in fields.items() if v]
            for i in range(0, len(items), 2000):
                pipe.hset(key, mapping=dict(items[i : i + 2000]))
                pending += 1
            if pending >= 500:
                await pipe.execute()
                pending = 0
        for key, members in cells.sets.items():
            pipe.sadd(key, *members)
        await pipe.execute()


async def snapshot(client: redis.Redis) -> dict[str, Any]:
    """Every aggregate (non-zero hash fields; day scope sets) for the equality check."""
    out: dict[str, Any] = {}
    skip = (":conv:", ":watermark", ":rating:", ":sla-due", ":backlog-scopes")
    async for key in client.scan_iter(match=f"{keys.insights_prefix()}:*", count=1000):
        name = key.decode()
        if any(s in name for s in skip):
            continue
        if name.split(":")[2] == "scopes":
            out[name] = {m.decode() for m in await client.smembers(key)}  # type: ignore[misc]
        else:
            fields = await client.hgetall(key)  # type: ignore[misc]
            h = {k.decode(): int(v) for k, v in fields.items() if int(v) and k != b"from"}  # from: when counted
            if h:
                out[name] = h
    return out


async def verify(client: redis.Redis, builder: Builder, week0: date, n: int) -> bool:
    """n placements written as real conversations, counted by the recorder == the direct build."""
    rng = random.Random(7)
    pool = templates(max(1, n // 3), week0, seed=11)
    placed = [(f"{i % PARTITIONS}-{i + 1}", pool[rng.randrange(len(pool))], rng.randrange(WEEKS)) for i in range(n)]
    async with client.pipeline(transaction=False) as pipe:
        for cid, t, w in placed:
            s = t.shifted(w * WEEK_MS)
            pipe.hset(
                keys.conversation(cid),
                mapping={
                    "id": cid,
                    "platform": s.platform,
                    "account": s.account,
                    "kind": "direct",
                    "thread_key": cid,
                    "contact_id": f"{s.platform}:{s.account}:{cid}",
                    "language": s.language,
                    "team": s.team,
                    "labels": json.dumps(s.labels),
                    "created_at": s.messages[0],
                },
            )
            pipe.zadd(keys.messages(cid), {f'{{"i":{i}}}': m * 1000 for i, m in enumerate(s.messages)})
            pipe.rpush(keys.events(cid), *[e.model_dump_json() for e in s.conversation_events(cid)])
            pipe.zadd(keys.conversations_by_update(keys.conversation_partition(cid)), {cid: s.messages[-1]})
        await pipe.execute()
    recorder = InsightsRecorder(client, InsightsSettings(timezone=ZONE), builder.policies, builder.hours)
    await InsightsWorker(client, PARTITIONS, recorder).scan_once()
    ratings = RatingStore(client, ZONE)
    for cid, t, w in placed:
        if t.rating is not None:
            score, at, agent = t.rating
            await ratings.record_rating(
                cid, score, agent=agent, team=t.team, at=datetime.fromtimestamp((at + w * WEEK_MS) / 1000, UTC)
            )
    recorded = await snapshot(client)
    exact: dict[Key, int] = defaultdict(int)
    for cid, t, w in placed:
        builder.add(exact, builder.increments(t, cid), shift_days=7 * w)
    await client.flushall()
    await write_cells(client, to_cells(exact))
    direct = await snapshot(client)
    await client.flushall()
    return recorded == direct and bool(recorded)


async def build(client: redis.Redis, builder: Builder, week0: date, conversations: int) -> int:
    per_week = max(1, conversations // WEEKS)
    groups: dict[str, dict[Key, int]] = defaultdict(dict)
    count: dict[str, int] = defaultdict(int)
    for i, t in enumerate(templates(per_week, week0, seed=3)):
        builder.add(groups[t.topic], builder.increments(t, f"t-{i}"))
        count[t.topic] += 1
    await write_cells(client, to_cells(builder.place(groups, WEEKS)))
    await client.hset(keys.insights_units(), "from", "0")  # type: ignore[misc]  # the index covers it all
    return sum(n * sum(week_multiplicity(topic, w) for w in range(WEEKS)) for topic, n in count.items())


async def timed(fn: Callable[[], Awaitable[Any]], runs: int = 7) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 2)


async def reports_benchmark(redis_url: str, conversations: int, verify_sample: int = 10_000) -> dict[str, Any]:
    """On the empty Redis at `redis_url` (the caller's to provide and to wipe)."""
    week0 = date(2026, 9, 7)  # a Monday; ten weeks of history end 2026-11-15
    client = redis.Redis.from_url(redis_url)
    try:
        builder = Builder()
        t = time.perf_counter()
        equal = await verify(client, builder, week0, verify_sample)
        verify_s = time.perf_counter() - t
        t = time.perf_counter()
        total = await build(client, builder, week0, conversations)
        build_s = time.perf_counter() - t
        reader = CubeReader(client)
        end = week0 + timedelta(days=7 * WEEKS - 1)
        q = Query(start=end - timedelta(days=29), end=end)
        korea = q.model_copy(update={"team": "korea"})

        def run(name: str, query: Query) -> Callable[[], Awaitable[Report]]:
            return lambda: REPORTS[name](reader, query)

        def page_over(query: Query) -> Callable[[], Awaitable[None]]:
            async def page() -> None:
                charts(await all_reports(reader, query))

            return page

        page = page_over(q)
        # "any date range": every conversation of the history, and the longest range allowed
        whole = Query(start=week0, end=end)
        longest = Query(start=end - timedelta(days=MAX_DAYS - 1), end=end)

        result: dict[str, Any] = {
            "conversations": total,
            "history_days": 7 * WEEKS,
            "range_days": len(q.days),
            "verify_conversations": verify_sample,
            "verify_recorder_equals_direct": equal,
            "verify_s": round(verify_s, 1),
            "build_s": round(build_s, 1),
            "heatmap_ms": await timed(run("heatmap", q)),
            "percentiles_30d_ms": await timed(run("response_times", q)),
            "sla_compliance_ms": await timed(run("sla", q)),
            "csat_trend_ms": await timed(run("csat", q)),
            "top_topics_ms": await timed(run("topics", q)),
            "channel_mix_ms": await timed(run("channels", q)),
            "summary_ms": await timed(run("summary", q)),
            "filtered_team_heatmap_ms": await timed(run("heatmap", korea)),
            "filtered_team_percentiles_ms": await timed(run("response_times", korea)),
            "reports_page_all_charts_ms": await timed(page),
            "reports_page_whole_history_ms": await timed(page_over(whole)),
            "reports_page_longest_range_ms": await timed(page_over(longest)),
        }
        info = await client.info("memory")
        result["redis_used_memory_mb"] = round(int(info["used_memory"]) / 2**20, 1)
        result["redis_keys"] = int(await client.dbsize())
        opened = await REPORTS["summary"](reader, Query(start=week0, end=end + timedelta(days=30)))
        result["opened_counted"] = opened.model_dump()["figures"]["opened"]
        return result
    finally:
        await client.aclose()
