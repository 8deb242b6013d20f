"""SLA notices on the live channel reach supervisors, not agents."""

import asyncio
import json

import redis.asyncio as redis

from helpline.console.live import stream
from helpline.console.roles import Principal, Role
from helpline.routing import keys
from helpline.routing.store import ConversationStore


async def first_events(r: redis.Redis, who: Principal, count: int) -> list[bytes]:
    store = ConversationStore(r, 4)
    gen = stream(r, store, who, heartbeat_s=0.2)
    out: list[bytes] = []

    async def read() -> None:
        async for chunk in gen:
            if chunk.startswith(b"event:"):
                out.append(chunk)
            if len(out) >= count:
                return

    task = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    await r.publish(keys.live_channel(), json.dumps({"notice": {"kind": "breach", "conversation_id": "1-1"}}))
    await asyncio.sleep(0.3)
    task.cancel()
    return out


async def test_supervisors_get_sla_notices_and_agents_do_not(r: redis.Redis) -> None:
    boss = Principal(username="lee", role=Role.SUPERVISOR, name="Lee", teams=("support",))
    agent = Principal(username="amy", role=Role.AGENT, name="Amy", teams=("support",))
    assert any(b"event: notice" in e and b"breach" in e for e in await first_events(r, boss, 2))
    assert not any(b"event: notice" in e for e in await first_events(r, agent, 2))
