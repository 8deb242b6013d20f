"""The recorder on a real Redis: idempotency, concurrency, recompute, and the real router."""

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from helpline.bots.autoreply import AutoReplyBot
from helpline.insights.cube import fan_out
from helpline.insights.fold import Context, State, event_item, fold, merge, message_item
from helpline.insights.reader import CubeReader
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.reports import Query, summary
from helpline.insights.settings import InsightsSettings
from helpline.insights.worker import InsightsWorker
from helpline.routing import keys
from helpline.routing.models import EventType
from helpline.routing.rules import Rule
from tests.factories import build_router, message, parts, route_all
from tests.insights.helpers import dump, ev, opened, seed

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def s(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


async def history(r: redis.Redis, cid: str = "0-1") -> None:
    await seed(r, cid, messages=[s(0)], events=[*opened(cid, s(1)), ev(cid, EventType.ASSIGNED, s(2), agent="kim")])
    await seed(r, cid, messages=[s(100)], events=[ev(cid, EventType.REPLY_QUEUED, s(120), actor="agent:kim")])


async def test_processing_the_same_events_twice_counts_once(r: redis.Redis) -> None:
    await history(r)
    rec = InsightsRecorder(r)
    assert await rec.process(["0-1"]) == 1
    first = await dump(r)
    assert await rec.process(["0-1", "0-1"]) == 0
    assert await dump(r) == first
    all_scope = keys.insights_counters("20261102", "*|*|*", "all")
    assert int(await r.hget(all_scope, "frt_ms|")) == 120_000  # type: ignore[misc]
    assert int(await r.hget(all_scope, "messages|")) == 2  # type: ignore[misc]


async def test_two_recorders_at_once_count_once(r: redis.Redis) -> None:
    for i in range(30):
        await history(r, f"{i % 4}-{i}")
    ids = [f"{i % 4}-{i}" for i in range(30)]
    a, b = InsightsRecorder(r), InsightsRecorder(r)
    await asyncio.gather(a.process(ids), b.process(list(reversed(ids))), a.process(ids))
    assert a.counted + b.counted == 30
    value = await r.hget(keys.insights_counters("20261102", "*|*|*", "all"), "opened|")  # type: ignore[misc]
    assert int(value) == 30


async def test_incremental_equals_recompute_and_direct_build(r: redis.Redis) -> None:
    rec = InsightsRecorder(r)
    cid = "1-7"
    await seed(r, cid, messages=[s(0)], events=opened(cid, s(1), labels=["deposit"]))
    await rec.process([cid])
    await seed(r, cid, messages=[], events=[ev(cid, EventType.REPLY_QUEUED, s(50), actor="bot:faq")])
    await rec.process([cid])
    await seed(
        r,
        cid,
        messages=[s(3600)],
        events=[ev(cid, EventType.STATUS, s(4000), actor="bot:faq", status="resolved", by_bot=True)],
    )
    await rec.process([cid])
    incremental = await dump(r)
    worker = InsightsWorker(r, partitions=4, recorder=rec)
    assert await worker.recompute() == 1
    assert await dump(r) == incremental
    # the benchmark's direct build (pure fold + fan-out) writes exactly these cells
    events = [
        event_item(e)
        for e in [
            *opened(cid, s(1), labels=["deposit"]),
            ev(cid, EventType.REPLY_QUEUED, s(50), actor="bot:faq"),
            ev(cid, EventType.STATUS, s(4000), actor="bot:faq", status="resolved", by_bot=True),
        ]
    ]
    msgs = [message_item(int(t.timestamp() * 1000) * 1000) for t in (s(0), s(3600))]
    ctx = Context(platform="x", account="main", language="en", zone=rec.zone)
    cells = fan_out(fold(State(), merge(msgs, events), ctx))
    direct = {k: {f: v for f, v in h.items() if v} for k, h in cells.hashes.items()}
    direct = {k: h for k, h in direct.items() if h}
    direct.update({k: v for k, v in cells.sets.items() if not k.endswith("backlog-scopes")})
    assert direct == incremental


async def test_worker_scan_finds_updated_conversations_and_reports_read_them(r: redis.Redis) -> None:
    await history(r, "2-1")
    await history(r, "3-2")
    rec = InsightsRecorder(r, InsightsSettings(timezone="Asia/Seoul"))
    worker = InsightsWorker(r, partitions=4, recorder=rec)
    assert await worker.scan_once() == 2
    assert await worker.scan_once() == 0
    report = await summary(CubeReader(r), Query(start=T0.date(), end=T0.date()))
    assert report.figures["opened"] == 2 and report.figures["frt_avg_s"] == 120.0
    assert report.figures["messages_per_conversation"] == 2.0


async def test_real_router_histories_are_counted(r: redis.Redis) -> None:
    p = parts(r, rules=[Rule(name="all to bot", set={"bot": "ack"})], bots={"ack": {"type": "autoreply"}})
    router = build_router(p, {"ack": AutoReplyBot({"en": "Thanks!"}, name="ack", handoff=True)})
    await p.bus.ingest([message("hi", thread="a"), message("hello", thread="b")])
    await route_all(p, router)
    rec = InsightsRecorder(r)
    assert await InsightsWorker(r, 4, rec).scan_once() == 2
    today = datetime.now(UTC).date()
    figures = (await summary(CubeReader(r), Query(start=today, end=today))).figures
    assert figures["opened"] == 2 and figures["messages"] == 2 and figures["handoff_rate"] == 1.0
    # The acknowledgement bot answered and handed off; no person has answered yet.
    assert figures["bot_rt_p50_s"] is not None and figures["bot_replies"] == 2
    assert figures["frt_p50_s"] is None and figures["replies"] == 0


async def test_the_recorder_runs_its_scripts_in_its_pipelines_round_trip(r: redis.Redis) -> None:
    await history(r)
    await r.config_resetstat()
    assert await InsightsRecorder(r).process(["0-1"]) == 1
    stats = await r.info("commandstats")
    assert "cmdstat_script|exists" not in stats  # redis-py would ask before every pipeline with a script
