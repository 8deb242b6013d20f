"""A conversation enters its team's queue with the commit that records `queued_team`, never
before it: a router that loses its partition while deciding leaves neither, and a crash after
the commit leaves an entry the janitor's sweep copies to the queue."""

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import pytest
import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.models import Presence
from helpline.routing.ownership import PartitionLeases
from helpline.routing.queueing import fill_queues
from tests.factories import build_router, message, parts, route_all
from tests.routing.test_router import agent


async def test_a_router_that_lost_its_partition_while_deciding_queues_nothing(r: redis.Redis) -> None:
    p = parts(r)
    mine = PartitionLeases(r, 4, "router-a", lease_ms=60_000)
    await mine.refresh()
    assert len(mine.tokens()) == 4
    router = build_router(p, {}, leases=mine)
    commit = p.store.commit

    async def lost_then_commit(effects: object, now: datetime, fences: Mapping[int, str] | None = None) -> list[int]:
        # Another router takes every partition over between this router's read and its commit.
        await r.delete(*(keys.partition_owner(q) for q in range(4)))
        await PartitionLeases(r, 4, "router-b", lease_ms=60_000).refresh()
        return await commit(effects, now, fences)  # type: ignore[arg-type]

    p.store.commit = lost_then_commit  # type: ignore[method-assign]
    await p.bus.ingest([message("my withdrawal is stuck", thread="t1")])
    await route_all(p, router, rounds=1)
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None
    assert await r.hget(keys.conversation(cid), "queued_team") in (None, b"")  # type: ignore[misc]
    assert await p.assignments.queued("support") == []  # no entry without the commit


async def test_a_crash_between_the_commit_and_the_queue_is_repaired_by_the_sweep(r: redis.Redis) -> None:
    p = parts(r)
    await agent(p, "amy", capacity=1, presence=Presence.OFFLINE)

    async def crash(partitions: object) -> int:
        raise ConnectionError("the router died here")

    flush: Callable[..., Awaitable[int]] = p.store.flush_queued
    p.store.flush_queued = crash  # type: ignore[method-assign]
    await p.bus.ingest([message("my withdrawal is stuck", thread="t1")])
    with pytest.raises(ConnectionError):
        await route_all(p, build_router(p, {}), rounds=1)
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None
    assert await r.hget(keys.conversation(cid), "queued_team") == b"support"  # type: ignore[misc]
    assert await p.assignments.queued("support") == []

    p.store.flush_queued = flush  # type: ignore[method-assign]
    await p.assignments.set_presence("amy", Presence.ONLINE)
    assert await fill_queues(p.store, p.assignments) == 1
    conv = await p.store.get(cid)
    assert conv is not None and conv.assignee == "amy"
    assert await r.hlen(keys.queue_outbox(keys.conversation_partition(cid))) == 0  # type: ignore[misc]
