"""A claim is written before the commit that records it (they live in different cluster slots).
A claim its conversation never recorded (the router killed in between, the message then
dead-lettered) must not hold the agent's slot for ever: the janitor's sweep gives it back, and a
router still deciding when the sweep runs has its commit refused and claims again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.assignment import AssignmentStore
from helpline.routing.assignment_step import AssignmentStep
from helpline.routing.bus import StreamBus
from helpline.routing.chain import BaseStep, Turn
from helpline.routing.models import Agent, Presence
from helpline.routing.queueing import fill_agent, fill_queues, release_orphan_claims
from helpline.routing.router import Router, RouterSettings
from helpline.routing.store import ConversationStore
from tests.factories import message, parts, route_all
from tests.redis_server import RedisServer
from tests.routing.test_crash import wait_for

PARTITIONS = 4
CONFIG = """
[redis]
partitions = {partitions}

[pipeline]
batch_size = 50
claim_idle_seconds = 1.0
send_batch_seconds = 0.3
send_timeout_seconds = 0.5
max_deliveries = 1

[[accounts]]
platform = "null"
name = "main"

[[teams]]
id = "support"
default = true
"""

# The router, killed (SIGKILL) the moment its first claim returns: before the commit.
DIES_AFTER_CLAIM = """
import os, signal, sys
from helpline.routing.assignment import AssignmentStore
claim = AssignmentStore.claim
async def claim_then_die(self, *args, **kwargs):
    got = await claim(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return got
AssignmentStore.claim = claim_then_die
from helpline.cli import main
sys.argv = ["helpline", *sys.argv[1:]]
main()
"""


def start_router(tmp: Path, url: str, dies_after_claim: bool) -> subprocess.Popen[bytes]:
    cfg = tmp / "helpline.toml"
    cfg.write_text(CONFIG.format(partitions=PARTITIONS))
    program = ["-c", DIES_AFTER_CLAIM] if dies_after_claim else ["-m", "helpline"]
    return subprocess.Popen(
        [sys.executable, *program, "run", "-c", str(cfg), "--role", "router"],
        env={**os.environ, "HELPLINE_REDIS__URL": url},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"router-{time.monotonic_ns()}.log", "wb"),
    )


async def test_a_router_killed_between_claim_and_commit_does_not_hold_the_agents_slot(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    r = redis.Redis.from_url(own_redis.url)
    store, assignments = ConversationStore(r, PARTITIONS), AssignmentStore(r)
    await assignments.upsert_agent(
        Agent(id="ana", name="Ana", teams=("support",), capacity=1, presence=Presence.ONLINE)
    )
    bus = StreamBus(r, PARTITIONS)
    await bus.ingest([message("my withdrawal is stuck", thread="t1", user="u1", message_id="m1")])
    dying = start_router(tmp_path, own_redis.url, dies_after_claim=True)
    assert dying.wait(timeout=60) == -9, "the router did not reach its claim"
    first = await store.find_thread("null", "main", "t1")
    assert first is not None
    assert await assignments.assigned_to(first) == "ana"  # claimed, and the commit never came
    conv = await store.get(first)
    assert conv is not None and conv.assignee is None

    # Another router takes the entry over; one delivery is all it may have: it is dead-lettered.
    router = start_router(tmp_path, own_redis.url, dies_after_claim=False)
    try:

        async def buried() -> bool:
            lengths = [await r.xlen(keys.dead_letters(p)) for p in range(PARTITIONS)]
            return sum(lengths) == 1

        assert await wait_for(buried, 60), "the entry was not dead-lettered"
        await bus.ingest([message("my account is locked", thread="t2", user="u2", message_id="m2")])

        async def second_queued() -> bool:  # the team queue is written after the commit
            return bool(await assignments.queued("support"))

        assert await wait_for(second_queued, 60), "the second conversation did not wait in the queue"
    finally:
        router.terminate()
        router.wait(timeout=20)
    second = await store.find_thread("null", "main", "t2")
    assert second is not None
    waiting = await store.get(second)
    assert waiting is not None and waiting.assignee is None  # Ana's one slot is held by the orphan
    assert await assignments.queued("support") == [(second, "en")]

    await fill_queues(store, assignments, orphan_after_s=0)  # the janitor's sweep

    assert await assignments.assigned_to(first) is None
    taken = await store.get(second)
    assert taken is not None and taken.assignee == "ana"
    assert await r.smembers(keys.agent_load("ana")) == {second.encode()}
    await r.aclose()


class Pause(BaseStep):
    """After assignment: the first decision waits here until the test lets it go."""

    name = "pause"

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    def check(self, turn: Turn) -> bool | None:
        return None if self.go.is_set() else True

    async def handle(self, turn: Turn, decision: bool) -> bool:
        self.reached.set()
        await self.go.wait()
        return False


async def test_a_sweep_during_the_decision_makes_the_router_claim_again(r: redis.Redis) -> None:
    p = parts(r)
    await p.assignments.upsert_agent(
        Agent(id="ana", name="Ana", teams=("support",), capacity=1, presence=Presence.ONLINE)
    )
    pause = Pause()
    settings = RouterSettings(default_team="support")
    router = Router(r, p.store, settings, [AssignmentStep(p.assignments, p.store), pause])
    await p.bus.ingest([message("hello", thread="t1")])
    routing = asyncio.create_task(route_all(p, router))
    await asyncio.wait_for(pause.reached.wait(), 10)
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None and await p.assignments.assigned_to(cid) == "ana"

    assert await release_orphan_claims(p.store, p.assignments, older_than_s=0) == [cid]
    assert await p.assignments.assigned_to(cid) is None
    pause.go.set()
    await asyncio.wait_for(routing, 10)

    conv = await p.store.get(cid)
    assert conv is not None and conv.assignee == "ana"  # decided again after the refused commit
    assert await p.assignments.assigned_to(cid) == "ana"
    assert await r.smembers(keys.agent_load("ana")) == {cid.encode()}
    assert await release_orphan_claims(p.store, p.assignments, older_than_s=0) == []  # recorded now
    assert await r.zcard(keys.unconfirmed_claims()) == 0


async def test_a_conversation_taken_from_the_queue_by_an_agent_who_crashed_waits_again(r: redis.Redis) -> None:
    p = parts(r)
    ana = Agent(id="ana", name="Ana", teams=("support",), capacity=1, presence=Presence.OFFLINE)
    await p.assignments.upsert_agent(ana)
    router = Router(r, p.store, RouterSettings(default_team="support"), [AssignmentStep(p.assignments, p.store)])
    await p.bus.ingest([message("hello", thread="t1")])
    await route_all(p, router)
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None and await p.assignments.queued("support") == [(cid, "en")]
    await p.assignments.set_presence("ana", Presence.ONLINE)
    online = ana.model_copy(update={"presence": Presence.ONLINE})
    assert await p.assignments.take_for(online) == [cid]  # ... and the process dies before its commit
    assert await p.assignments.queued("support") == []

    assert await release_orphan_claims(p.store, p.assignments, older_than_s=0) == [cid]

    assert await p.assignments.queued("support") == [(cid, "en")]  # waiting again, not lost
    assert await r.scard(keys.agent_load("ana")) == 0
    assert await fill_agent(p.store, p.assignments, "ana") == [cid]
    conv = await p.store.get(cid)
    assert conv is not None and conv.assignee == "ana"
