"""Real processes, real kill -9, real Redis restarts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.bus import StreamBus
from helpline.routing.models import EventType
from tests.factories import message
from tests.redis_server import RedisServer

PARTITIONS = 4
CONFIG = """
[redis]
partitions = {partitions}

[pipeline]
batch_size = 50
claim_idle_seconds = 1.0
send_batch_seconds = 0.3
send_timeout_seconds = 0.5

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


def start_worker(tmp: Path, url: str) -> subprocess.Popen[bytes]:
    cfg = tmp / "helpline.toml"
    cfg.write_text(CONFIG.format(partitions=PARTITIONS))
    env = {**os.environ, "HELPLINE_REDIS__URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "helpline", "run", "-c", str(cfg), "--role", "router", "--role", "sender"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"worker-{time.monotonic_ns()}.log", "wb"),
    )


async def histories(r: redis.Redis) -> dict[str, int]:
    """message id -> in how many conversation histories it appears."""
    seen: dict[str, int] = {}
    for p in range(PARTITIONS):
        for cid in await r.zrange(keys.conversations_by_update(p), 0, -1):
            for raw in await r.zrange(keys.messages(cid.decode()), 0, -1):
                mid = raw.split(b'"message_id":"', 1)[1].split(b'"', 1)[0].decode()
                seen[mid] = seen.get(mid, 0) + 1
    return seen


async def replies(r: redis.Redis) -> tuple[list[str], dict[str, str]]:
    """Reply ids queued by every conversation (from their REPLY_QUEUED events: a reply queued
    twice would show twice), and each reply's delivery state."""
    ids: list[str] = []
    states: dict[str, str] = {}
    for p in range(PARTITIONS):
        for cid in await r.zrange(keys.conversations_by_update(p), 0, -1):
            for raw in await r.lrange(keys.events(cid.decode()), 0, -1):
                event = json.loads(raw)
                if event["type"] == EventType.REPLY_QUEUED.value:
                    rid = event["data"]["reply_id"]
                    ids.append(rid)
                    states[rid] = (await r.hget(keys.delivery(p, rid), "state") or b"").decode()
    return ids, states


async def routed(r: redis.Redis) -> int:
    """Entries the router group has read (cheap progress, while it runs)."""
    total = 0
    for p in range(PARTITIONS):
        for group in await r.xinfo_groups(keys.inbound_stream(p)):
            total += int(group.get("entries-read") or 0) - int(group["pending"])
    return total


async def wait_for(predicate, seconds: float, every: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(every)
    return False


async def test_kill_9_router_mid_run_loses_and_duplicates_nothing(own_redis: RedisServer, tmp_path: Path) -> None:
    r = redis.Redis.from_url(own_redis.url)
    bus = StreamBus(r, PARTITIONS)
    sent = [message(f"question {i}", thread=f"t{i % 500}", user=f"u{i % 500}", message_id=f"k{i}") for i in range(5000)]
    for i in range(0, len(sent), 500):
        await bus.ingest(sent[i : i + 500])
    first = start_worker(tmp_path, own_redis.url)

    async def some_done() -> bool:
        try:
            return await routed(r) >= 1000
        except redis.ResponseError:  # the groups do not exist yet
            return False

    assert await wait_for(some_done, 60, every=0.02), "the first worker made no progress"
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_at_kill = len(await histories(r))
    assert done_at_kill < 5000, "the worker finished before it could be killed; make the run longer"
    second = start_worker(tmp_path, own_redis.url)
    try:

        async def all_sent() -> bool:
            _, states = await replies(r)
            return len(states) >= 5000 and all(s == "sent" for s in states.values())

        assert await wait_for(all_sent, 120), "not every reply was sent after the restart"
    finally:
        second.terminate()
        second.wait(timeout=20)
    seen = await histories(r)
    assert set(seen) == {m.message_id for m in sent}
    assert all(count == 1 for count in seen.values())
    ids, _ = await replies(r)
    assert len(ids) == len(set(ids)) == 5000
    for p in range(PARTITIONS):
        assert (await r.xpending(keys.inbound_stream(p), keys.ROUTER_GROUP))["pending"] == 0
    await r.aclose()


async def worker_ready(r: redis.Redis) -> bool:
    """The worker has routed the probe message."""
    return "probe" in await histories(r)


async def test_redis_restart_mid_run_loses_nothing_acknowledged(own_redis: RedisServer, tmp_path: Path) -> None:
    worker = start_worker(tmp_path, own_redis.url)
    acknowledged: list[str] = []
    try:
        probe = redis.Redis.from_url(own_redis.url)
        await StreamBus(probe, PARTITIONS).ingest([message("probe", message_id="probe")])
        assert await wait_for(lambda: worker_ready(probe), 60), "the worker did not start"
        await probe.aclose()
        for round_ in range(3):
            r = redis.Redis.from_url(own_redis.url)
            bus = StreamBus(r, PARTITIONS)
            for i in range(10):
                batch = [
                    message(f"q{round_}-{i}-{j}", thread=f"t{j}", message_id=f"r{round_}-{i}-{j}") for j in range(50)
                ]
                await bus.ingest(batch)  # returned: durable (appendfsync always), so acknowledged
                acknowledged += [m.message_id for m in batch]
                await asyncio.sleep(0.02)
            await r.aclose()
            own_redis.restart(kill=(round_ == 1))  # a graceful restart, then a kill -9
        r = redis.Redis.from_url(own_redis.url)

        async def all_routed() -> bool:
            return set(await histories(r)) >= set(acknowledged)

        assert await wait_for(all_routed, 90), "acknowledged messages were lost across Redis restarts"
        seen = await histories(r)
        assert all(seen[m] == 1 for m in acknowledged)
        await r.aclose()
    finally:
        worker.terminate()
        worker.wait(timeout=20)
