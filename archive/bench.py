"""`helpline bench archive`: the pipeline, then the record.

N conversations of M messages each (English, Korean, Chinese, Japanese; direct and public) go
through ingest, the router (the acknowledgement bot answering every message) and the sender on a
real Redis; every conversation is resolved; the archiver writes the change streams into SQL
(timed: by `archivers` processes at once, each catching up on its share of the partitions, as
the archiver role's processes do); the quiet period (set to zero) passes and the evictor removes what is archived; the
acknowledged stream entries are trimmed, as the janitor does. Then it reports what is left in
Redis per archived conversation, what is lost or doubled in SQL, and the latency of search (a
fixed mix of English words, two-character Korean/Chinese/Japanese terms and contact handles, as
an agent of one team) and of a contact's full history (with a linked contact).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from sqlalchemy import func, select

from helpline import bench as pipeline_bench
from helpline.bench_guard import BenchmarkRefused, wipe_for_benchmark
from helpline.config import DatabaseSettings, Settings
from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.null import NullConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.embedded_redis import EmbeddedRedis
from helpline.routing import keys
from helpline.routing.assignment import AssignmentStore
from helpline.routing.bus import trim_acknowledged
from helpline.routing.models import Author, InboundMessage, MessageKind
from helpline.routing.rules import Action, Rule
from helpline.routing.sender import Sender
from helpline.routing.store import Effects, to_ms
from helpline.runtime import build_router, make_bus, make_store, router_consumer, sender_consumer, settle_heap

from .archiver import Archiver
from .database import Database, migrate
from .evict import Evictor
from .reader import contact_history
from .record import Record
from .schema import conversations, messages
from .search import Access, Query, search

# The pipeline benchmark's questions, and one more in English so a message's text is not its language's alone.
TEXTS = {**pipeline_bench.TEXTS, "en": [*pipeline_bench.TEXTS["en"], "The withdrawal address was rejected"]}
ACK = pipeline_bench.ACK
SEARCHES = ("withdrawal", "deposit credited", "출금", "입금", "提现", "充值", "出金", "入金")
PARTITIONS = 16
CHUNK = 5000


def _settings(url: str) -> Settings:
    return Settings(
        redis={"url": url, "partitions": PARTITIONS},
        accounts=[AccountSettings(platform="null", name="bench")],
        teams=[{"id": "support", "default": True}, {"id": "vip"}],
        rules=[
            Rule(name="whales to vip", match={"senders": ["whale0", "whale1"]}, set=Action(team="vip")),
            Rule(name="everything to the acknowledgement bot", set=Action(bot="ack")),
        ],
        bots={"ack": {"type": "autoreply", "texts": ACK, "handoff": False}},
    )


def _messages(conversations_: int, per: int, seed: int) -> Iterator[InboundMessage]:
    """Made as they are ingested: a million conversations' messages do not fit in memory at once."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for i in range(per):  # round by round: the later messages of a thread come after its first
        for c in range(conversations_):
            lang = list(TEXTS)[c % 4]
            yield InboundMessage(
                platform="null",
                account="bench",
                kind=MessageKind.DIRECT if c % 3 else MessageKind.MENTION,
                message_id=f"m{c}-{i}",
                thread_key=f"t{c}",
                author=Author(user_id=f"c{c}", handle=f"trader{c}", display_name=f"Trader {c}"),
                text=rng.choice(TEXTS[lang]),
                language=lang,
                platform_time=now,
                received_at=now,
            )


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2)


async def _drain(consumer: Any) -> None:
    while await consumer.step():
        pass


async def archive_benchmark(
    conversations_: int,
    per: int,
    database_url: str | None,
    redis_url: str | None,
    wipe: bool = False,
    queries: int = 300,
    archivers: int | None = None,
) -> dict[str, Any]:
    """`archivers`: archiver processes (default: `database.archivers`' default for the engine)."""
    with tempfile.TemporaryDirectory(prefix="helpline-archive-") as tmp:
        db_url = database_url or f"sqlite:///{tmp}/record.db"
        # Refused before Redis starts: a server started here and not stopped outlives the command.
        shards = archivers or DatabaseSettings(url=db_url).archiver_processes
        if shards > 1 and db_url.startswith("sqlite"):
            raise BenchmarkRefused("SQLite takes one writer at a time: --archivers 1 (or a PostgreSQL --database-url)")
        if not 1 <= shards <= PARTITIONS:
            raise BenchmarkRefused(f"--archivers: 1 to {PARTITIONS} (the benchmark's partitions)")
        server = None if redis_url else EmbeddedRedis(Path(tmp) / "redis").start()
        url = redis_url or (server.url if server else "")
        client: redis.Redis = redis.Redis.from_url(url)
        db = Database(db_url)
        try:
            await wipe_for_benchmark(client, named=bool(redis_url), wipe=wipe)
            await asyncio.to_thread(migrate, db_url)
            async with db.engine.connect() as conn:
                if (await conn.execute(select(func.count()).select_from(conversations))).scalar_one():
                    raise BenchmarkRefused("the record at --database-url holds conversations: give an empty database")
            return await _run(client, db, url, conversations_, per, queries, shards)
        finally:
            await db.close()
            await client.aclose()
            if server:
                server.stop()


async def _run(
    client: redis.Redis, db: Database, url: str, n: int, per: int, queries: int, shards: int = 1
) -> dict[str, Any]:
    settings = _settings(url)
    bus, store = make_bus(settings, client), make_store(settings, client)
    await client.config_set("appendonly", "no")  # memory, not disk, is measured
    baseline = int((await client.info("memory"))["used_memory"])
    router = router_consumer(
        settings, client, bus, build_router(settings, client, store, AssignmentStore(client)), "bench-router"
    )
    connector = NullConnector(settings.accounts[0], ConnectorContext(ingest=bus.ingest))
    sender = sender_consumer(
        settings,
        client,
        Sender(client, {("null", "bench"): connector}, PARTITIONS, limiter=SharedRateLimiter(client)),
        "bench-sender",
    )
    for c in (router, sender):
        c.block_ms = 1
        await c.ensure_groups()
    all_messages = _messages(n, per, seed=7)
    pipeline_s = 0.0  # the pipeline's time, without making the messages
    while chunk := list(itertools.islice(all_messages, CHUNK)):
        started = time.perf_counter()
        await bus.ingest(chunk)
        await _drain(router)
        await _drain(sender)
        pipeline_s += time.perf_counter() - started
    ids = [
        cid
        for p in range(PARTITIONS)
        for cid in [x.decode() for x in await client.zrange(keys.conversations_by_update(p), 0, -1)]
    ]
    now = datetime.now(UTC)
    for start in range(0, len(ids), 1000):  # every conversation resolved by an agent
        await store.commit(
            [Effects(cid).set(status="resolved", resolved_at=to_ms(now)) for cid in ids[start : start + 1000]], now
        )
    if shards == 1:
        archiver = Archiver(client, Record(db), PARTITIONS, "bench-archiver", batch_size=1000)
        settle_heap()  # as the archiver role's process does
        started, cpu = time.perf_counter(), time.process_time()
        await archiver.catch_up()
        archive_s, archive_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    else:
        archive_s, archive_cpu_s = await _catch_up_in_processes(url, db.url, shards)
    async with db.engine.connect() as conn:
        rows = int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())
        distinct = int((await conn.execute(select(func.count(func.distinct(messages.c.message_id))))).scalar_one())
        archived = int((await conn.execute(select(func.count()).select_from(conversations))).scalar_one())
    if not db.is_sqlite:  # what autovacuum does on a live desk: the planner's statistics
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE")
    evictor = Evictor(client, db, PARTITIONS, quiet_period_s=0)
    evicted = await evictor.round(int(time.time() * 1000) + 1000)
    await asyncio.sleep(1.2)  # the evicted contacts' expiry (one quiet period: zero here, at least 1 s)
    for p in range(PARTITIONS):  # what the janitor does
        for stream in (keys.inbound_stream(p), keys.outbound_stream(p, "null", "bench"), keys.changes(p)):
            await trim_acknowledged(client, stream)
    markers, kept = 0, 0
    marker_sample: list[bytes] = []
    async for key in client.scan_iter(count=10_000):
        if b":seen:" in key:  # dedupe markers: they expire after the dedupe window
            markers += 1
            if len(marker_sample) < 200:
                marker_sample.append(key)
        else:
            kept += int(await client.memory_usage(key, samples=0) or 0)
    marker_bytes = sum([int(await client.memory_usage(k) or 0) for k in marker_sample]) / max(len(marker_sample), 1)
    used = int((await client.info("memory"))["used_memory"]) - baseline
    agent = Access(username="agent1", teams=("support",))
    rng = random.Random(11)
    search_ms, history_ms = [], []
    for i in range(queries):
        # a contact's handle every fourth query, the words in turn between them
        text = SEARCHES[(i - i // 4 - 1) % len(SEARCHES)] if i % 4 else f"trader{rng.randrange(n)}"
        t = time.perf_counter()
        await search(db, agent, Query(text=text), limit=25)
        search_ms.append((time.perf_counter() - t) * 1000)
        contact = [f"null:bench:c{rng.randrange(n)}", f"null:bench:c{rng.randrange(n)}"]
        t = time.perf_counter()
        await contact_history(db, contact, agent)
        history_ms.append((time.perf_counter() - t) * 1000)
    total = n * per
    return {
        "engine": db.dialect,
        "conversations": n,
        "messages_per_conversation": per,
        "messages": total,
        "pipeline_messages_per_second": round(total / pipeline_s, 1),
        "archived": archived,
        "evicted": evicted,
        "lost": total - distinct,
        "duplicated": rows - distinct,
        "archivers": shards,
        "archive_seconds": round(archive_s, 2),
        "archive_messages_per_second": round(total / archive_s, 1),
        # the archivers' own CPU (all processes), not the database's or Redis's
        "archiver_cpu_us_per_message": round(archive_cpu_s * 1e6 / total, 1),
        "redis_bytes_per_archived_conversation": round(kept / max(archived, 1), 1),
        "redis_used_memory_growth_per_conversation": round(used / max(archived, 1), 1),
        "redis_dedupe_marker_bytes_per_conversation": round(markers * marker_bytes / max(archived, 1), 1),
        "search_p99_ms": _p99(search_ms),
        "search_p50_ms": _p99(sorted(search_ms)[: len(search_ms) // 2 + 1]),
        "history_p99_ms": _p99(history_ms),
    }


async def _catch_up_in_processes(redis_url: str, database_url: str, shards: int) -> tuple[float, float]:
    """Seconds for `shards` archiver processes to catch up on the backlog together, timed from
    when all are connected and waiting to the last one's end (not their interpreters' start),
    and the CPU seconds they spent on it."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(shards + 1)
    spent = context.Queue()
    children = [
        context.Process(target=_catch_up_process, args=(redis_url, database_url, shard, shards, ready, spent))
        for shard in range(shards)
    ]
    for child in children:
        child.start()
    try:
        await asyncio.to_thread(ready.wait, 120)
        started = time.perf_counter()
        for child in children:
            await asyncio.to_thread(child.join)
        archive_s = time.perf_counter() - started
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
    failed = [child.exitcode for child in children if child.exitcode != 0]
    if failed:
        raise RuntimeError(f"an archiver process of the benchmark failed (exit {failed[0]})")
    return archive_s, sum(float(spent.get(timeout=10)) for _ in children)


def _catch_up_process(redis_url: str, database_url: str, shard: int, shards: int, ready: Any, spent: Any) -> None:
    asyncio.run(_catch_up_shard(redis_url, database_url, shard, shards, ready, spent))


async def _catch_up_shard(redis_url: str, database_url: str, shard: int, shards: int, ready: Any, spent: Any) -> None:
    client: redis.Redis = redis.Redis.from_url(redis_url)
    db = Database(database_url)
    try:
        await client.ping()
        async with db.engine.connect() as conn:
            await conn.execute(select(1))
        archiver = Archiver(
            client, Record(db), PARTITIONS, f"bench-archiver-{shard}", batch_size=1000, shard=shard, shards=shards
        )
        settle_heap()  # as the archiver role's processes do
        await asyncio.to_thread(ready.wait, 120)
        cpu = time.process_time()
        await archiver.catch_up()
        spent.put(time.process_time() - cpu)
    finally:
        await db.close()
        await client.aclose()
