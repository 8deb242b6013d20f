"""Partition ownership: one router decides a conversation at a time; a router that lost its
lease (paused, partitioned) cannot commit; events are never doubled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.bus import StreamBus
from helpline.routing.models import EventType
from helpline.routing.ownership import PartitionLeases
from helpline.routing.store import ConversationStore, Effects, Fenced
from tests.factories import build_router, message, parts, route_all
from tests.redis_server import RedisServer
from tests.routing.test_crash import wait_for

PARTITIONS = 8
CONFIG = """
[redis]
partitions = {partitions}

[pipeline]
batch_size = 50
claim_idle_seconds = 30.0
partition_lease_seconds = {lease}

[[accounts]]
platform = "null"
name = "main"

[[teams]]
id = "support"

[[rules]]
name = "everything to the acknowledgement bot"
set = {{ bot = "ack" }}

[bots.ack]
type = "autoreply"
handoff = false
texts = {{ en = "Thanks, we got your message." }}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_routers_share_the_partitions_and_only_the_owner_commits(r: redis.Redis) -> None:
    clock = Clock()
    a = PartitionLeases(r, 4, "router-a", lease_ms=2000, clock=clock)
    b = PartitionLeases(r, 4, "router-b", lease_ms=2000, clock=clock)
    await a.refresh()
    assert len(a.tokens()) == 4  # alone: everything
    await b.refresh()
    assert b.tokens() == {}  # all held; a gives its extra back at its next round
    await a.refresh()
    await b.refresh()
    assert len(a.tokens()) == len(b.tokens()) == 2 and not set(a.tokens()) & set(b.tokens())
    assert sorted(b.take_over()) == sorted(keys.inbound_stream(p) for p in b.tokens())

    # A token that is not the partition's current one writes nothing.
    p = parts(r)
    await p.bus.ingest([message("hello", thread="t1")])
    await route_all(p, build_router(p, {}))
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None
    part = keys.conversation_partition(cid)
    store = ConversationStore(r, 4)
    owner = a if part in a.tokens() else b
    now = datetime.now(UTC)
    with pytest.raises(Fenced):
        await store.commit([Effects(cid).labels(add=["x"])], now, {part: "1|someone-else"})
    conv = await store.get(cid)
    assert conv is not None and conv.labels == ()
    assert await store.commit([Effects(cid).labels(add=["x"])], now, owner.tokens()) == [0]

    # Paused past its lease: locally it knows it holds nothing, before asking Redis.
    clock.now += 2.0
    assert owner.tokens() == {}


def start_router(tmp: Path, url: str, lease: float, name: str) -> subprocess.Popen[bytes]:
    cfg = tmp / f"helpline-{name}.toml"
    cfg.write_text(CONFIG.format(partitions=PARTITIONS, lease=lease))
    env = {**os.environ, "HELPLINE_REDIS__URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "helpline", "run", "-c", str(cfg), "--role", "router"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.log", "wb"),
    )


async def backlog(r: redis.Redis, n: int, threads: int) -> list[str]:
    bus = StreamBus(r, PARTITIONS)
    sent = [
        message(f"question {i}", thread=f"t{i % threads}", user=f"u{i % threads}", message_id=f"k{i}") for i in range(n)
    ]
    for i in range(0, n, 500):
        await bus.ingest(sent[i : i + 500])
    return [m.message_id for m in sent]


async def all_routed(r: redis.Redis, n: int) -> bool:
    total = 0
    for p in range(PARTITIONS):
        try:
            groups = await r.xinfo_groups(keys.inbound_stream(p))
        except redis.ResponseError:
            return False
        for group in groups:
            total += int(group.get("entries-read") or 0) - int(group["pending"])
    return total >= n


async def check_no_doubles(r: redis.Redis, sent: list[str]) -> None:
    """Every conversation created, routed and answered once per message, replies queued (in
    their events and on the outbound stream) in the order of the messages."""
    answered: list[str] = []
    for p in range(PARTITIONS):
        outbound = [json.loads(f[b"m"]) for _, f in await r.xrange(keys.outbound_stream(p, "null", "main"))]
        by_conv: dict[str, list[str]] = {}
        for reply in outbound:
            by_conv.setdefault(reply["conversation_id"], []).append(reply["in_reply_to"])
        for raw_cid in await r.zrange(keys.conversations_by_update(p), 0, -1):
            cid = raw_cid.decode()
            events = [json.loads(e) for e in await r.lrange(keys.events(cid), 0, -1)]
            types = Counter(e["type"] for e in events)
            assert types[EventType.CREATED.value] == 1 and types[EventType.ROUTED.value] == 1, (cid, types)
            assert types[EventType.BOT_ASSIGNED.value] == 1, (cid, types)
            history = [json.loads(m)["message_id"] for m in await r.zrange(keys.messages(cid), 0, -1)]
            queued = [e["data"]["reply_id"].split(":")[1] for e in events if e["type"] == EventType.REPLY_QUEUED.value]
            assert queued == history, (cid, queued, history)  # once each, in message order
            assert by_conv.get(cid, []) == history, cid
            answered += queued
    assert sorted(answered) == sorted(sent)


async def test_two_router_processes_drain_a_backlog_without_doubling(own_redis: RedisServer, tmp_path: Path) -> None:
    r = redis.Redis.from_url(own_redis.url)
    sent = await backlog(r, 4000, threads=400)
    routers = [start_router(tmp_path, own_redis.url, 10.0, f"router-{i}") for i in range(2)]
    try:

        async def both_working() -> bool:
            return int(await r.zcard(keys.routers())) == 2

        assert await wait_for(both_working, 60), "the routers did not start"
        assert await wait_for(lambda: all_routed(r, len(sent)), 180), "the backlog was not drained"
    finally:
        for proc in routers:
            proc.terminate()
        for proc in routers:
            proc.wait(timeout=30)
    await check_no_doubles(r, sent)
    await r.aclose()


async def test_a_router_paused_past_its_lease_commits_nothing(own_redis: RedisServer, tmp_path: Path) -> None:
    r = redis.Redis.from_url(own_redis.url)
    sent = await backlog(r, 6000, threads=600)
    first = start_router(tmp_path, own_redis.url, 2.0, "first")
    second = start_router(tmp_path, own_redis.url, 2.0, "second")
    try:

        async def some_done() -> bool:
            try:
                total = 0
                for p in range(PARTITIONS):
                    for group in await r.xinfo_groups(keys.inbound_stream(p)):
                        total += int(group.get("entries-read") or 0)
                return total >= 1000 and int(await r.zcard(keys.routers())) == 2
            except redis.ResponseError:
                return False

        assert await wait_for(some_done, 60, every=0.02), "the routers made no progress"
        for _ in range(100):  # stopped while it holds entries read and not yet committed
            first.send_signal(signal.SIGSTOP)
            in_flight = 0
            for p in range(PARTITIONS):
                for c in await r.xinfo_consumers(keys.inbound_stream(p), keys.ROUTER_GROUP):
                    if c["name"].decode().endswith(f"-{first.pid}"):
                        in_flight += int(c["pending"])
            if in_flight:
                break
            first.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.005)
        time.sleep(6)  # three leases: the second router takes the partitions and their entries over
        first.send_signal(signal.SIGCONT)
        assert await wait_for(lambda: all_routed(r, len(sent)), 180), "the backlog was not drained"
    finally:
        for proc in (first, second):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        for proc in (first, second):
            proc.wait(timeout=30)
    await check_no_doubles(r, sent)
    if in_flight == 0:
        pytest.skip("the paused router had nothing in flight this time (the check above still held)")
    await r.aclose()
