import time
from datetime import UTC, datetime

import redis.asyncio as redis

from helpline.archive.database import Database
from helpline.archive.evict import Evictor
from helpline.archive.reader import AgentMemory, contact_history, history, restore
from helpline.archive.search import Access
from helpline.routing import keys
from helpline.routing.models import Agent, ConversationEvent, EventType, Presence
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import build_router, message, route_all


async def _resolve(desk: Desk, cid: str) -> None:
    now = datetime.now(UTC)
    await desk.parts.store.commit([Effects(cid).set(status="resolved", resolved_at=int(now.timestamp() * 1000))], now)


async def _keys_of(r: redis.Redis, cid: str) -> list[str]:
    found = [k.decode() async for k in r.scan_iter(match=f"*conv:{cid}*")]
    found += [k.decode() async for k in r.scan_iter(match=f"*reply:{cid}:*")]
    return found


def _later() -> int:
    return int(time.time() * 1000) + 10_000


async def test_resolved_archived_conversations_leave_redis_and_come_back(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest(
        [
            message("withdrawal stuck", thread="a", user="u1"),
            message("more", thread="a", user="u1"),
            message("open one", thread="b", user="u2"),
        ]
    )
    await desk.send()
    store = desk.parts.store
    a = await store.find_thread("null", "main", "a")
    b = await store.find_thread("null", "main", "b")
    assert a and b
    before_messages = [m.text for m in await store.messages(a)]
    before_events = await store.events(a)
    await _resolve(desk, a)
    evictor = Evictor(r, db, 4, quiet_period_s=0)
    assert await evictor.round(_later()) == 0  # not archived yet: stays
    await desk.archive()
    assert await evictor.round(_later()) == 1  # the open one stays
    assert await _keys_of(r, a) == []
    assert await store.find_thread("null", "main", "a") is None
    assert a not in await store.recent(100)
    assert await _keys_of(r, b) != []
    # Its history is read from the record ...
    h = await history(db, a)
    assert h is not None and len(h.messages) == 2 and len(h.events) == len(before_events)
    rows = await contact_history(db, ["null:main:u1"], Access(everything=True))
    assert [row["id"] for row in rows] == [a]
    # ... and reopening restores it whole, delivery records included (a resend stays idempotent).
    assert await restore(r, db, a) is True
    assert await restore(r, db, a) is False
    assert [m.text for m in await store.messages(a)] == before_messages
    assert await store.events(a) == before_events
    conv = await store.get(a)
    assert conv is not None and conv.status.value == "resolved" and conv.message_count == 2
    assert await store.find_thread("null", "main", "a") == a
    deliveries = await store.deliveries(a, before_events)
    assert deliveries and {d.state.value for d in deliveries} == {"sent"}


async def test_a_change_after_archiving_keeps_the_conversation(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("hello", thread="a")])
    await desk.send()
    a = await desk.parts.store.find_thread("null", "main", "a")
    assert a
    await _resolve(desk, a)
    await desk.archive()
    note = ConversationEvent(conversation_id=a, type=EventType.NOTE, actor="agent:mina", data={"text": "late note"})
    await desk.parts.store.commit([Effects(a).event(note)], datetime.now(UTC))
    evictor = Evictor(r, db, 4, quiet_period_s=0)
    assert await evictor.round(_later()) == 0  # the record is one rev behind
    await desk.archive()
    assert await evictor.round(_later()) == 1


async def test_the_quiet_period_and_unsent_replies_keep_a_conversation(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("hello", thread="a")])
    a = await desk.parts.store.find_thread("null", "main", "a")
    assert a
    await _resolve(desk, a)
    await desk.archive()
    assert await Evictor(r, db, 4, quiet_period_s=3600).round() == 0  # resolved just now
    assert await Evictor(r, db, 4, quiet_period_s=0).round(_later()) == 0  # its reply is still queued
    await desk.send()
    await desk.archive()
    assert await Evictor(r, db, 4, quiet_period_s=0).round(_later()) == 1
    assert await r.ttl(keys.contact("null:main:u1")) > 0  # the contact expires; the record keeps it


async def _agent(desk: Desk, agent_id: str) -> None:
    await desk.parts.assignments.upsert_agent(
        Agent(id=agent_id, name=agent_id, teams=("support",), capacity=5, presence=Presence.ONLINE)
    )


async def test_a_returning_contact_goes_back_to_their_agent_after_eviction(
    r: redis.Redis, db: Database, database_url: str
) -> None:
    desk = Desk(r, db)
    memory = AgentMemory(database_url)
    router = build_router(desk.parts, {}, recall=memory)  # no bot: every conversation needs an agent
    await _agent(desk, "amy")
    await _agent(desk, "bob")
    store = desk.parts.store
    await desk.parts.bus.ingest([message("hi", thread="x", user="carol")])
    await route_all(desk.parts, router)
    x = await store.find_thread("null", "main", "x")
    assert x and (await store.get(x)).assignee == "amy"  # type: ignore[union-attr]
    await _resolve(desk, x)
    await desk.archive()
    assert await Evictor(r, db, 4, quiet_period_s=0).round(_later()) == 1
    assert await r.ttl(keys.contact("null:main:carol")) > 0
    await r.delete(keys.contact("null:main:carol"))  # ... and it expired
    await desk.parts.bus.ingest([message("busy amy", thread="y", user="dave")])  # amy now has more work than bob
    await route_all(desk.parts, router)
    await desk.parts.bus.ingest([message("me again", thread="x2", user="carol")])
    await route_all(desk.parts, router)
    again = await store.get(await store.find_thread("null", "main", "x2") or "")
    assert again is not None and again.assignee == "amy"
    assert any("sticky" in e.reason for e in await store.events(again.id))
    await memory.close()


async def test_a_contact_writing_again_no_longer_expires(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("hello", thread="a", user="carol")])
    await desk.send()
    a = await desk.parts.store.find_thread("null", "main", "a")
    assert a
    await _resolve(desk, a)
    await desk.archive()
    assert await Evictor(r, db, 4, quiet_period_s=0).round(_later()) == 1
    assert await r.ttl(keys.contact("null:main:carol")) > 0
    await desk.ingest([message("another question", thread="b", user="carol")])  # an open conversation again
    assert await r.ttl(keys.contact("null:main:carol")) == -1


async def _lasting_keys(r: redis.Redis) -> set[str]:
    """Keys without an expiry."""
    found = set()
    async for key in r.scan_iter(count=1000):
        if await r.ttl(key) == -1:
            found.add(key.decode())
    return found


async def test_nothing_of_an_archived_conversation_stays_in_redis_without_an_expiry(
    r: redis.Redis, db: Database
) -> None:
    desk = Desk(r, db)
    evictor = Evictor(r, db, 4, quiet_period_s=0)

    async def round_of(users: range) -> set[str]:
        await desk.ingest([message(f"question {i}", thread=f"t{i}", user=f"u{i}") for i in users for _ in (1, 2)])
        await desk.send()
        for cid in await desk.parts.store.recent(100):
            await _resolve(desk, cid)
        await desk.archive()
        await evictor.round(_later())
        return await _lasting_keys(r)

    first = await round_of(range(0, 12))  # every partition has had a conversation
    assert await desk.parts.store.recent(100) == []
    # More conversations archived and evicted leave no key more that lasts: what stays
    # is per partition (streams, counters) or expires (dedupe markers, contacts).
    assert await round_of(range(12, 30)) == first
    assert not any(":conv:" in key or ":contact:" in key or ":reply:" in key for key in first)
