"""Real sender processes against a Telegram (no idempotency key) that is slow, down or failing:
kill -9, SIGSTOP/SIGCONT past the claim timeout, deferrals by the rate limits. Every reply is
posted at most once, none is lost or dead-lettered, and each chat gets its replies in the order
they were written."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis

from helpline.connectors.emulation import free_port, serve
from helpline.connectors.telegram.emulator import create_app
from helpline.routing import keys
from helpline.routing.models import Conversation, MessageKind, utcnow
from helpline.routing.outbound import reply_to
from helpline.routing.store import ConversationStore, Effects
from tests.redis_server import RedisServer
from tests.routing.test_crash import wait_for

PARTITIONS = 4
TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"
CONFIG = """
[redis]
partitions = {partitions}

[pipeline]
batch_size = 20
max_deliveries = 2
claim_idle_seconds = 6.0
send_batch_seconds = 0.5
send_timeout_seconds = 5.0

[[accounts]]
platform = "telegram"
name = "support"
base_url = "{url}"
secrets = {{ token = "HL_TG_TOKEN" }}
"""


def start_sender(tmp: Path, redis_url: str, platform_url: str, name: str) -> subprocess.Popen[bytes]:
    cfg = tmp / "helpline.toml"
    cfg.write_text(CONFIG.format(partitions=PARTITIONS, url=platform_url))
    env = {**os.environ, "HELPLINE_REDIS__URL": redis_url, "HL_TG_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "helpline", "run", "-c", str(cfg), "--role", "sender"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.log", "ab"),
    )


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Desk:
    """Queues replies to private Telegram chats the way the router does, and reads them back."""

    def __init__(self, r: redis.Redis, http: httpx.AsyncClient, chats: int) -> None:
        self.r = r
        self.http = http
        self.store = ConversationStore(r, PARTITIONS)
        self.chats = [1000 + i for i in range(chats)]
        self.written: dict[str, tuple[int, int]] = {}  # reply id -> (chat, index)

    def conversation(self, chat: int) -> Conversation:
        now = utcnow()
        return Conversation(
            id=f"{chat % PARTITIONS}-{chat}",
            platform="telegram",
            account="support",
            kind=MessageKind.DIRECT,
            thread_key=f"chat:{chat}",
            contact_id=f"telegram:support:{chat}",
            created_at=now,
            updated_at=now,
        )

    async def start(self) -> None:
        response = await self.http.post(
            "/_emulator/chats", json={"chats": [{"id": c, "type": "private"} for c in self.chats]}
        )
        assert response.status_code == 200, response.text

    async def write(self, index: int) -> None:
        """Reply number `index` to every chat."""
        effects = []
        for chat in self.chats:
            conv = self.conversation(chat)
            reply_id = f"{conv.id}:r{index}"
            reply = reply_to(
                conv,
                reply_id=reply_id,
                text=f"chat {chat} reply {index}",
                sender="agent:amy",
                in_reply_to=None,
                recipient_id=str(chat),
            )
            effects.append(Effects(conv.id).reply(reply, keys.conversation_partition(conv.id)))
            self.written[reply_id] = (chat, index)
        await self.store.commit(effects, utcnow())

    async def states(self) -> dict[str, str]:
        out = {}
        for reply_id in self.written:
            raw = await self.r.hget(keys.delivery(keys.conversation_partition(reply_id), reply_id), "state")
            out[reply_id] = (raw or b"").decode()
        return out

    async def all_final(self) -> bool:
        return all(s in ("sent", "failed", "uncertain") for s in (await self.states()).values())

    async def posted(self) -> list[dict[str, Any]]:
        return list((await self.http.get("/_emulator/sent")).json()["messages"])

    async def dead_letters(self) -> int:
        return sum([int(await self.r.xlen(keys.dead_letters(p))) for p in range(PARTITIONS)])

    async def check(self, uncertain_allowed: int) -> dict[str, int]:
        """Nothing doubled, nothing lost, nothing failed, every chat in order."""
        posted = await self.posted()
        times = Counter(m["text"] for m in posted)
        assert not [t for t, n in times.items() if n > 1], "replies posted twice"
        states = await self.states()
        counts = Counter(states.values())
        assert counts["failed"] == 0 and counts["queued"] == counts["sending"] == 0, counts
        assert counts["uncertain"] <= uncertain_allowed, counts
        texts = set(times)
        for reply_id, state in states.items():
            chat, index = self.written[reply_id]
            if state == "sent":
                assert f"chat {chat} reply {index}" in texts, f"{reply_id} recorded sent, never posted"
        by_chat: dict[int, list[int]] = defaultdict(list)
        for m in posted:
            by_chat[int(m["chat_id"])].append(int(m["text"].rsplit(" ", 1)[1]))
        disordered = {chat: seq for chat, seq in by_chat.items() if seq != sorted(seq)}
        assert not disordered, f"replies overtook each other: {disordered}"
        assert await self.dead_letters() == 0
        return dict(counts)


async def test_senders_killed_and_paused_on_a_slow_platform_post_each_reply_once_in_order(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    app = create_app(token=TOKEN, limits={"send_latency_min": 0.2, "send_latency_max": 1.0})
    r = redis.Redis.from_url(own_redis.url)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        desk = Desk(r, http, chats=24)
        await desk.start()
        senders = [start_sender(tmp_path, own_redis.url, url, f"sender-{i}") for i in range(3)]
        try:
            await desk.write(0)
            await desk.write(1)

            async def posted(n: int) -> bool:
                return len(await desk.posted()) >= n

            assert await wait_for(lambda: posted(8), 60), "the senders posted nothing"
            # Paused past the claim timeout in the middle of its batch: the others take over.
            senders[0].send_signal(signal.SIGSTOP)
            await desk.write(2)
            await asyncio.sleep(8)
            senders[0].send_signal(signal.SIGCONT)
            # Killed mid-batch, then started again.
            senders[1].send_signal(signal.SIGKILL)
            senders[1].wait()
            senders.append(start_sender(tmp_path, own_redis.url, url, "sender-1b"))
            # A slow platform: posts take 2-4.5 s for a while (a batch would outlive the claim timeout).
            await http.post("/_emulator/config", json={"send_latency_min": 2.0, "send_latency_max": 4.5})
            await desk.write(3)
            await asyncio.sleep(8)
            await http.post("/_emulator/config", json={"send_latency_min": 0.2, "send_latency_max": 1.0})
            await desk.write(4)
            assert await wait_for(desk.all_final, 180, every=0.5), Counter((await desk.states()).values())
            # The killed and the paused sender had at most one post in flight each: those may be
            # uncertain (the residual window of a platform without idempotency), never doubled.
            counts = await desk.check(uncertain_allowed=2)
            assert counts["sent"] >= len(desk.written) - 2
            assert app.state.emulator.stats["rate_limited_responses"] == 0  # deferred by our own limits
        finally:
            stop_all(senders)
    await r.aclose()


async def test_replies_wait_out_a_platform_outage_then_all_go_in_order(own_redis: RedisServer, tmp_path: Path) -> None:
    app = create_app(token=TOKEN)
    r = redis.Redis.from_url(own_redis.url)
    port = free_port()
    senders: list[subprocess.Popen[bytes]] = []
    try:
        async with serve(app, port=port) as url, httpx.AsyncClient(base_url=url) as http:
            desk = Desk(r, http, chats=12)
            await desk.start()
            senders = [start_sender(tmp_path, own_redis.url, url, f"sender-{i}") for i in range(2)]
            await desk.write(0)
            assert await wait_for(desk.all_final, 60), "the senders did not start"
            # The platform answers 502 for a while, with replies queued...
            await http.post("/_emulator/config", json={"outage_status": 502})
            for index in (1, 2, 3):
                await desk.write(index)
            await asyncio.sleep(4)
            await http.post("/_emulator/config", json={"outage_status": 0})
        # ...then nobody listens on its port for a while (connections refused).
        await asyncio.sleep(4)
        async with serve(app, port=port) as url, httpx.AsyncClient(base_url=url) as http:
            desk.http = http
            assert await wait_for(desk.all_final, 120, every=0.5), Counter((await desk.states()).values())
            counts = await desk.check(uncertain_allowed=0)
            assert counts["sent"] == len(desk.written) == 48
            assert app.state.emulator.stats["errors_502"] > 0
    finally:
        stop_all(senders)
        await r.aclose()
