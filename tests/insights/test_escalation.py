"""SLA engine: warns once (also with two engines, also after a restart), breaches once."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from helpline.insights.escalation import WARNING_LABEL, SlaEngine
from helpline.insights.reader import CubeReader
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.reports import Query, sla_compliance
from helpline.insights.settings import SlaPolicy
from helpline.insights.sla import sla_clock
from helpline.routing import keys
from helpline.routing.hours import BusinessHours
from helpline.routing.models import EventType, Priority
from helpline.routing.store import ConversationStore
from tests.insights.helpers import ev, opened, seed

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
POLICY = SlaPolicy(name="std", first_response_minutes=10, resolution_minutes=120, warn_at_percent=80)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def setup(r: redis.Redis) -> tuple[InsightsRecorder, SlaEngine, ConversationStore]:
    await seed(r, "0-1", messages=[T0], events=opened("0-1", T0))
    recorder = InsightsRecorder(r, policies=[POLICY])
    await recorder.process(["0-1"])
    return recorder, SlaEngine(r, recorder, [POLICY], {}), ConversationStore(r, 4)


async def test_warning_fires_once_raises_priority_and_notifies(r: redis.Redis) -> None:
    recorder, engine, store = await setup(r)
    pubsub = r.pubsub()
    await pubsub.subscribe(keys.live_channel())
    assert (await engine.tick(at(5))).checked == 0  # not due yet: not even read
    first = await engine.tick(at(8.5))
    assert first.warned == 1 and first.breached == 0
    again = await engine.tick(at(9))
    restarted = await SlaEngine(r, recorder, [POLICY], {}).tick(at(9.5))
    assert again.warned == 0 and restarted.warned == 0
    assert await r.exists(keys.sla_fired("0-1", "warn:first_response")) == 1  # the marker the script sets
    conv = await store.get("0-1")
    assert conv is not None and conv.priority is Priority.NORMAL.raised() and WARNING_LABEL in conv.labels
    warnings = [e for e in await store.events("0-1") if e.type is EventType.PRIORITY]
    assert len(warnings) == 1 and "first response" in warnings[0].reason and warnings[0].data["level"] == "warning"
    notices = []
    for _ in range(20):
        m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if m:
            notices.append(json.loads(m["data"])["notice"])
    assert [n["kind"] for n in notices] == ["sla_warning"] and notices[0]["conversation_id"] == "0-1"
    await pubsub.aclose()


async def test_two_engines_at_once_fire_once(r: redis.Redis) -> None:
    recorder, engine, store = await setup(r)
    other = SlaEngine(r, recorder, [POLICY], {})
    results = await asyncio.gather(engine.tick(at(12)), other.tick(at(12)), engine.tick(at(12)))
    assert sum(x.warned for x in results) == 1 and sum(x.breached for x in results) == 1
    events = await store.events("0-1")
    assert sum(1 for e in events if e.type is EventType.PRIORITY) == 1
    assert sum(1 for e in events if e.type is EventType.NOTE and e.data.get("level") == "breach") == 1


async def test_breach_is_counted_once_in_reports(r: redis.Redis) -> None:
    recorder, engine, _ = await setup(r)
    await engine.tick(at(12))
    await recorder.process(["0-1"])
    await seed(
        r,
        "0-1",
        messages=[],
        events=[
            ev("0-1", EventType.REPLY_QUEUED, at(15), actor="agent:kim"),
            ev("0-1", EventType.STATUS, at(30), actor="agent:kim", status="resolved"),
        ],
    )
    await recorder.process(["0-1"])
    report = await sla_compliance(CubeReader(r), Query(start=T0.date(), end=T0.date()))
    first = next(t for t in report.targets if t["target"] == "first_response")
    resolution = next(t for t in report.targets if t["target"] == "resolution")
    assert (first["met"], first["breached"], first["warned"]) == (0, 1, 1)
    assert (resolution["met"], resolution["breached"]) == (1, 0)
    assert await r.zscore(keys.insights_sla_due(), "0-1") is None  # resolved: no clock left


async def test_business_hours_clock_for_the_inbox(r: redis.Redis) -> None:
    await seed(r, "0-1", messages=[T0], events=opened("0-1", T0))
    conv = await ConversationStore(r, 4).get("0-1")
    assert conv is not None
    hours = BusinessHours(timezone="UTC", weekly={"mon": ("09:00-10:30",), "tue": ("09:00-18:00",)})
    policy = SlaPolicy(name="bh", first_response_minutes=60, business_hours=True)
    clock = sla_clock(conv, policies=[policy], hours={"support": hours}, now=at(15))
    assert clock is not None and clock.target.value == "first_response"
    # 30 open minutes left on Monday, the other 30 on Tuesday from 09:00
    assert clock.due_at == datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    assert clock.percent_elapsed == 25.0 and not clock.breached
    assert sla_clock(conv, policies=[], hours={}) is None
