"""The insights role wiring and the inbox's SLA clock with a next-response wait."""

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from helpline.insights.service import Insights
from helpline.insights.settings import SlaPolicy, Target
from helpline.routing.models import EventType
from tests.factories import Parts, parts
from tests.insights.helpers import ev, opened, seed

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def build(p: Parts) -> Insights:
    """As the composition root builds it for the insights role."""
    return Insights.build(
        p.client, p.store, p.settings.redis.partitions, p.settings.insights, p.settings.sla, p.settings.hours
    )


async def test_inbox_clock_follows_the_next_response_wait(r: redis.Redis) -> None:
    p = parts(r)
    insights = build(p)
    insights.clocks.policies = [SlaPolicy(name="std", first_response_minutes=10, next_response_minutes=20)]
    await seed(
        r,
        "0-1",
        messages=[T0, T0 + timedelta(minutes=30)],
        events=[*opened("0-1", T0), ev("0-1", EventType.REPLY_QUEUED, T0 + timedelta(minutes=5), actor="agent:kim")],
    )
    await r.hset("hl:{p0}:conv:0-1", "first_response_at", int((T0 + timedelta(minutes=5)).timestamp() * 1000))  # type: ignore[misc]
    await insights.recorder.process(["0-1"])
    conv = await p.store.get("0-1")
    assert conv is not None
    clock = await insights.clocks.clock(conv, now=T0 + timedelta(minutes=40))
    assert clock is not None and clock.target is Target.NEXT_RESPONSE
    assert clock.due_at == T0 + timedelta(minutes=50) and clock.percent_elapsed == 50.0


async def test_the_role_runs_until_stopped(r: redis.Redis) -> None:
    p = parts(r)
    await seed(r, "0-1", messages=[T0], events=opened("0-1", T0))
    insights = build(p)
    stop = asyncio.Event()
    task = asyncio.create_task(insights.run(stop, scan_interval=0.05, sla_tick=0.05))
    for _ in range(40):
        if insights.recorder.counted:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert insights.recorder.counted == 1
