"""`helpline bench pipeline`: the whole inbound → reply path on a real Redis, against arq.

Phase 1 (throughput) offers all N messages as fast as ingest takes them and times until the
sender has posted the last reply. Phase 2 (latency) offers a steady load and measures, per
message, ingest → reply enqueued from the two stream entry ids (both stamped by the Redis clock).
Then the same N messages run as no-op jobs through arq on the same server, for a baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext, SendProgress, SendResult
from helpline.connectors.null import NullConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.insights import metrics
from helpline.routing import keys
from helpline.routing.bus import Entry, EntryKey, Failure
from helpline.routing.models import Author, InboundMessage, MessageKind, OutboundReply
from helpline.routing.rules import Action, Rule
from helpline.routing.sender import Sender

from .bench_guard import require_arq, wipe_for_benchmark
from .config import Settings
from .embedded_redis import EmbeddedRedis
from .runtime import make_bus, sender_consumer, settle_heap

TEXTS = {
    "en": ["My withdrawal has been pending for two hours", "How do I reset my 2FA?", "Deposit not credited yet"],
    "ko": [
        "출금이 두 시간째 대기 중이에요",
        "2단계 인증을 재설정하려면 어떻게 하나요?",
        "입금이 아직 반영되지 않았어요",
    ],
    "zh": ["我的提现已经等待两个小时了", "如何重置双重验证？", "充值还没有到账"],
    "ja": ["出金が2時間保留のままです", "二段階認証をリセットするには？", "入金がまだ反映されません"],
}
ACK = {
    "en": "Thanks, we got your message.",
    "ko": "메시지를 받았습니다.",
    "zh": "我们已收到您的消息。",
    "ja": "メッセージを受け付けました。",
}


class CountingNullConnector(NullConnector):
    """The null platform, counting posts per reply id (to find duplicates)."""

    def __init__(self, settings: AccountSettings, context: ConnectorContext, posts: Counter[str]) -> None:
        super().__init__(settings, context)
        self.posts = posts

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        self.posts[reply.reply_id] += 1
        return await super().send(reply, progress)


class CountingPlainConnector(CountingNullConnector):
    """The same platform without idempotency keys (as Telegram, X and e-mail): each post is
    claimed right before it and recorded right after, the sender's costlier path."""

    idempotent_send = False


#: Half the threads write to an account whose platform dedupes, half to one that does not.
ACCOUNTS = ("bench", "bench-plain")
#: `--mix`: "mixed" sends half the replies through each account; "idempotent" only through the
#: deduping one (the mix of the runs before 2026-12-05 evening).
MIXES = ("mixed", "idempotent")


def bench_settings(url: str) -> Settings:
    return Settings(
        redis={"url": url, "partitions": 16},
        accounts=[AccountSettings(platform="null", name=name) for name in ACCOUNTS],
        rules=[Rule(name="everything to the acknowledgement bot", set=Action(bot="ack"))],
        bots={"ack": {"type": "autoreply", "texts": ACK, "handoff": False}},
    )


def synthetic(n: int, seed: int, threads: int, prefix: str, mix: str = "mixed") -> list[InboundMessage]:
    rng = random.Random(seed)
    accounts = ACCOUNTS if mix == "mixed" else ACCOUNTS[:1]
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        lang = rng.choice(list(TEXTS))
        thread = rng.randrange(threads)
        out.append(
            InboundMessage(
                platform="null",
                account=accounts[thread % len(accounts)],
                kind=MessageKind.DIRECT if thread % 3 else MessageKind.MENTION,
                message_id=f"{prefix}{i}",
                thread_key=f"t{thread}",
                author=Author(user_id=f"u{thread}", handle=f"user{thread}", display_name=f"User {thread}"),
                text=rng.choice(TEXTS[lang]),
                language=lang,
                platform_time=now,
                received_at=now,
            )
        )
    return out


BENCH_CONFIG = """
[redis]
partitions = 16

[pipeline]
batch_size = 500

[[accounts]]
platform = "null"
name = "bench"

[[accounts]]
platform = "null"
name = "bench-plain"

[[rules]]
name = "everything to the acknowledgement bot"
set = {{ bot = "ack" }}

[bots.ack]
type = "autoreply"
handoff = false
texts = {texts}
"""


def _toml_table(values: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items()) + " }"


class Pipeline:
    """Routers as real `helpline run --role router` processes; the sender (counting the posts)
    in this process, next to the load generator."""

    def __init__(self, client: redis.Redis, url: str, workdir: Path, routers: int, mix: str = "mixed") -> None:
        self.url = url
        self.mix = mix
        self.workdir = workdir
        self.routers = routers
        self.settings = settings = bench_settings(url)
        self.client = client
        self.bus = make_bus(settings, client)
        self.posts: Counter[str] = Counter()
        context = ConnectorContext(ingest=self.bus.ingest)
        self.connectors: dict[tuple[str, str], Connector] = {
            ("null", account.name): kind(account, context, self.posts)
            for account, kind in zip(settings.accounts, (CountingNullConnector, CountingPlainConnector), strict=True)
        }
        self.sender = Sender(
            client, self.connectors, settings.redis.partitions, limiter=SharedRateLimiter(client), observe=metrics
        )
        self.consumer = sender_consumer(settings, client, self.sender, "bench-sender")
        self.consumer.block_ms = 5
        self.consumer.handler = self._observe
        self.enqueued_ms: dict[str, int] = {}  # message id -> when its reply entered the outbound stream
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    async def _observe(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        for e in entries:  # the entry id is the Redis time of the XADD: when the reply was queued
            reply_id = e.payload.split(b'"reply_id":"', 1)[1].split(b'"', 1)[0].decode()
            self.enqueued_ms[reply_id.split(":")[1]] = int(e.id.split("-")[0])
        return await self.sender.handle_batch(entries)

    def spawn_routers(self) -> None:
        config = self.workdir / "bench.toml"
        config.write_text(BENCH_CONFIG.format(texts=_toml_table(ACK)), encoding="utf-8")
        env = {**os.environ, "HELPLINE_REDIS__URL": self.url}
        for i in range(self.routers):
            with open(self.workdir / f"router-{i}.log", "wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "helpline", "run", "-c", str(config), "--role", "router"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )

    async def start(self) -> None:
        self.spawn_routers()
        await self.consumer.ensure_groups()
        self.tasks = [asyncio.create_task(self.consumer.run(self.stop))]

    async def warm_up(self) -> None:
        """Wait until the routers answer (they load rules and bots at start)."""
        await self.bus.ingest(synthetic(1, seed=0, threads=1, prefix="warm-"))
        await self.wait_sent(1, limit_s=60)
        if self.sender.sent < 1:
            logs = "; ".join((self.workdir / f"router-{i}.log").read_text()[-500:] for i in range(self.routers))
            raise RuntimeError(f"the router processes did not answer within 60 s: {logs}")
        await self.wait_balanced(limit_s=30)

    async def wait_balanced(self, limit_s: float) -> None:
        """Wait until the routers share the partitions (each holds its fair share, as they do
        after their first lease rounds): the run measures the steady state, not the start-up."""
        partitions = self.settings.redis.partitions
        fair = -(-partitions // self.routers)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            owners = await self.client.mget([keys.partition_owner(p) for p in range(partitions)])
            held = Counter(o.split(b"|", 1)[1] for o in owners if o)
            if sum(held.values()) == partitions and len(held) == self.routers and max(held.values()) <= fair:
                return
            await asyncio.sleep(0.1)

    def diagnose(self) -> None:
        """The run stalled: say where, with the routers' own words."""
        alive = [proc.poll() is None for proc in self.processes]
        logs = "; ".join((self.workdir / f"router-{i}.log").read_text()[-800:] for i in range(self.routers))
        sender = [t.exception() if t.done() else "running" for t in self.tasks]
        raise RuntimeError(
            f"stalled at {self.sender.sent} replies; routers alive {alive}; sender {sender}; router logs: {logs}"
        )

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            proc.wait(timeout=20)

    async def wait_sent(self, total: int, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while self.sender.sent < total and time.monotonic() < deadline:  # noqa: ASYNC110 (a counter, polled)
            await asyncio.sleep(0.002)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _cpu(client: redis.Redis, pipeline: Pipeline) -> dict[str, float]:
    """CPU seconds so far of this process (load generator and sender), the routers and Redis: per
    message, a measure a loaded machine disturbs much less than messages per second."""
    info = await client.info("cpu")
    return {
        "sender_and_load": time.process_time(),
        "routers": sum(_process_cpu(proc.pid) for proc in pipeline.processes),
        "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
    }


async def _throughput(pipeline: Pipeline, n: int) -> float:
    messages = synthetic(n, seed=1, threads=max(1, n // 5), prefix="tp-", mix=pipeline.mix)
    done_before = pipeline.sender.sent
    start = time.perf_counter()
    for i in range(0, n, 500):
        await pipeline.bus.ingest(messages[i : i + 500])
    await pipeline.wait_sent(done_before + n, limit_s=max(60.0, n / 500))
    if pipeline.sender.sent < done_before + n:
        pipeline.diagnose()
    return time.perf_counter() - start


async def _latency(pipeline: Pipeline, rate: int, seconds: float) -> list[float]:
    """Offer `rate` messages/s in 10 ms ticks; per message, ingest call → reply queued."""
    total = int(rate * seconds)
    messages = synthetic(total, seed=2, threads=max(1, total // 5), prefix="lat-", mix=pipeline.mix)
    done_before = pipeline.sender.sent
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    offered_ms: dict[str, int] = {}
    start = time.perf_counter()
    for i in range(0, total, per_tick):
        batch = messages[i : i + per_tick]
        now_ms = int(time.time() * 1000)
        offered_ms.update((m.message_id, now_ms) for m in batch)
        await pipeline.bus.ingest(batch)
        delay = start + (i // per_tick + 1) * tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await pipeline.wait_sent(done_before + total, limit_s=60.0)
    return sorted(pipeline.enqueued_ms[m] - t for m, t in offered_ms.items() if m in pipeline.enqueued_ms)


async def _verify(client: redis.Redis, pipeline: Pipeline, expected: int) -> tuple[int, int]:
    """lost: messages missing from every history or without a posted reply; duplicated: extra
    history entries plus extra posts."""
    in_history = 0
    for p in range(pipeline.settings.redis.partitions):
        for cid in await client.zrange(keys.conversations_by_update(p), 0, -1):
            in_history += int(await client.zcard(keys.messages(cid.decode())))
    in_history -= 1  # the warm-up message
    posts = {rid: count for rid, count in pipeline.posts.items() if ":warm-" not in rid}
    replied = len(posts)
    extra_posts = sum(c - 1 for c in posts.values())
    lost = max(0, expected - in_history) + max(0, expected - replied)
    duplicated = max(0, in_history - expected) + extra_posts
    return lost, duplicated


async def noop(ctx: dict[str, Any], i: int) -> int:
    """The baseline's job: nothing."""
    return i


async def _arq_baseline(url: str, n: int) -> float:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings)
    await pool.flushall()
    start = time.perf_counter()
    for i in range(0, n, 500):
        await asyncio.gather(*(pool.enqueue_job("noop", j) for j in range(i, min(n, i + 500))))
    worker = Worker(
        functions=[noop],
        redis_settings=settings,
        burst=True,
        max_jobs=500,
        poll_delay=0.001,
        handle_signals=False,
        keep_result=0,
    )
    await worker.main()
    elapsed = time.perf_counter() - start
    done = worker.jobs_complete
    await worker.close()
    await pool.aclose()
    return done / elapsed


async def pipeline_benchmark(
    n: int,
    rate: int,
    latency_seconds: float,
    redis_url: str | None,
    routers: int = 1,
    *,
    wipe: bool = False,
    baseline: bool = True,
    mix: str = "mixed",
) -> dict[str, Any]:
    """Run the benchmark; `wipe` allows emptying a named Redis that holds data, `baseline` adds
    the comparison run through arq (which must then be installed), `mix` is one of `MIXES`."""
    if mix not in MIXES:
        raise ValueError(f"mix: one of {', '.join(MIXES)}, not {mix!r}")
    if baseline:
        require_arq()
    with tempfile.TemporaryDirectory(prefix="helpline-bench-") as tmp:
        server = None if redis_url else EmbeddedRedis(Path(tmp) / "redis").start()
        url = redis_url or (server.url if server else "")
        client = redis.Redis.from_url(url)
        try:
            await wipe_for_benchmark(client, named=redis_url is not None, wipe=wipe)
            pipeline = Pipeline(client, url, Path(tmp), routers, mix)
            await pipeline.start()
            settle_heap()  # as `helpline run` does: this process runs the sender
            try:
                await pipeline.warm_up()
                cpu_before = await _cpu(client, pipeline)
                elapsed = await _throughput(pipeline, n)
                cpu_after = await _cpu(client, pipeline)
                lost, duplicated = await _verify(client, pipeline, n)
                latencies = await _latency(pipeline, rate, latency_seconds)
            finally:
                await pipeline.close()
            baseline_mps = await _arq_baseline(url, n) if baseline else None
        finally:
            await client.aclose()
            if server is not None:
                server.stop()
    mps = n / elapsed
    return {
        "messages": n,
        "router_processes": routers,
        "mix": mix,
        "replies_without_idempotency": "half" if mix == "mixed" else "none",
        "messages_per_second": round(mps, 1),
        "elapsed_s": round(elapsed, 3),
        "latency_offered_per_second": rate,
        "latency_samples": len(latencies),
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "lost": lost,
        "duplicated": duplicated,
        "cpu_us_per_message": {part: round((cpu_after[part] - cpu_before[part]) / n * 1e6, 1) for part in cpu_before},
        "baseline_messages_per_second": round(baseline_mps, 1) if baseline_mps else None,
        "speedup_vs_baseline": round(mps / baseline_mps, 1) if baseline_mps else None,
    }


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    return float(values[min(len(values) - 1, int(len(values) * q / 100))])
