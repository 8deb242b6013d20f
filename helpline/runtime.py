"""Wiring: build what a process runs (by role) from the settings and a Redis client, and run it.
Every piece is given what it uses, explicitly.

Roles: `connectors` (pollers), `router`, `sender`, `console` (web app, API and webhooks), `insights`
(metrics from conversation events, SLA escalation), `publisher` (announcements), `archiver` (the
change streams into the SQL record). A process
runs any set of them; many processes of each role may run on many machines at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis

from helpline.bots.base import Bot
from helpline.connectors.base import Connector, ConnectorContext
from helpline.connectors.crossings import telling_the_owners
from helpline.connectors.files import AttachmentStore
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.registry import build_connector
from helpline.connectors.runner import PollRunner
from helpline.connectors.s3files import build_blobs
from helpline.connectors.startup import StartFailed, Startup
from helpline.health.heartbeat import ProcessHealth
from helpline.insights import metrics
from helpline.insights.metrics import observe_ingest
from helpline.routing import keys
from helpline.routing.assignment import AssignmentStore
from helpline.routing.assignment_step import Recall
from helpline.routing.bus import StreamBus, StreamConsumer, trim_acknowledged
from helpline.routing.outage import role_context
from helpline.routing.ownership import PartitionLeases
from helpline.routing.periodic import run_periodically
from helpline.routing.queueing import fill_queues
from helpline.routing.router import Router
from helpline.routing.sender import Sender, run_promoter
from helpline.routing.store import ConversationStore

from .assembly import assemble_router
from .config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from helpline.archive.database import Database

log = logging.getLogger(__name__)


class StartupFailed(Exception):
    """A connector refused to start for good (credentials refused or revoked, a wrong setting): one
    line for the operator, and a non-zero exit. An unreachable platform is not this: the account
    starts in the background (see `connectors.startup`)."""


ROLES = ("connectors", "router", "sender", "console", "insights", "publisher", "archiver")


def consumer_name(role: str) -> str:
    """Unique per process, readable in XINFO CONSUMERS."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


def make_bus(settings: Settings, client: redis.Redis) -> StreamBus:
    p = settings.pipeline
    return StreamBus(
        client, settings.redis.partitions, dedupe_ttl=int(p.dedupe_window_hours * 3600), observe=observe_ingest
    )


def make_store(settings: Settings, client: redis.Redis) -> ConversationStore:
    return ConversationStore(
        client, settings.redis.partitions, quiet_period_s=settings.pipeline.quiet_period_hours * 3600
    )


def make_connectors(
    settings: Settings,
    client: redis.Redis,
    bus: StreamBus,
    store: ConversationStore,
    transport: Any = None,
    extra: dict[str, Any] | None = None,
) -> dict[tuple[str, str], Connector]:
    """One connector per configured account, ingesting through `bus`."""

    async def customer_typing(platform: str, account: str, thread_key: str) -> None:
        """A customer types in a thread (the web chat says so): its conversation's agents see it."""
        from helpline.console.collision import customer_typing

        conversation_id = await store.find_thread(platform, account, thread_key)
        if conversation_id is not None:
            await customer_typing(client, conversation_id)

    connectors: dict[tuple[str, str], Connector] = {}
    blobs = build_blobs(settings.files)  # one file store backend for every account

    def file_stores(platform: str, account: str) -> AttachmentStore | None:
        other = connectors.get((platform, account))  # read when asked: filled below
        return other.files if other is not None else None

    for account in settings.accounts:
        ctx = ConnectorContext(
            ingest=telling_the_owners(bus.ingest, account.platform, connectors),
            redis=client,
            http_transport=transport,
            public_base_url=settings.console.public_url,
            reject=bus.reject,
            extra=dict(extra or {}),
            customer_typing=customer_typing,
            blobs=blobs,
            file_stores=file_stores,
        )
        connectors[(account.platform, account.name)] = build_connector(account, ctx)
    return connectors


def credentials_reporter(connectors: Mapping[tuple[str, str], Connector]) -> Callable[[str, str, str | None], None]:
    """For a sender or publisher that finds an account's credentials refused (or accepted again):
    the account's health says so (down, with the reason) for as long as it lasts."""

    def report(platform: str, account: str, problem: str | None) -> None:
        connector = connectors.get((platform, account))
        if connector is not None:
            connector.report_credentials(problem)

    return report


async def sync_roster(settings: Settings, assignments: AssignmentStore) -> None:
    """Agents from the config join the roster (presence is kept: it changes at runtime)."""
    for agent in settings.agents:
        await assignments.upsert_agent(agent, keep_presence=True)


def partition_leases(settings: Settings, client: redis.Redis, name: str | None = None) -> PartitionLeases:
    return PartitionLeases(
        client,
        settings.redis.partitions,
        name or consumer_name("router"),
        lease_ms=int(settings.pipeline.partition_lease_seconds * 1000),
    )


def build_router(
    settings: Settings,
    client: redis.Redis,
    store: ConversationStore,
    assignments: AssignmentStore,
    bots: dict[str, Bot] | None = None,
    leases: PartitionLeases | None = None,
    recall: Recall | None = None,
) -> Router:
    """The router with the configured chain of steps (see `assembly.py`)."""
    return assemble_router(settings, client, store, assignments, bots, leases, recall)


def router_consumer(
    settings: Settings,
    client: redis.Redis,
    bus: StreamBus,
    router: Router,
    name: str | None = None,
    leases: PartitionLeases | None = None,
) -> StreamConsumer:
    """The router's consumer; with `leases`, it reads and claims only the partitions it holds."""
    p = settings.pipeline
    return StreamConsumer(
        client,
        keys.ROUTER_GROUP,
        leases.consumer if leases else (name or consumer_name("router")),
        bus.inbound_streams(),
        router.handle_batch,
        lambda stream: keys.dead_letters(keys.stream_partition(stream)),
        count=p.batch_size,
        max_deliveries=p.max_deliveries,
        retry_idle_ms=int(p.claim_idle_seconds * 1000),
        handler_acknowledges=True,
        ownership=leases,
    )


def make_sender(settings: Settings, client: redis.Redis, connectors: Mapping[tuple[str, str], Connector]) -> Sender:
    """The sender with the pipeline's bounds: its hold on a reply lasts `claim_idle_seconds`."""
    p = settings.pipeline
    return Sender(
        client,
        connectors,
        settings.redis.partitions,
        limiter=SharedRateLimiter(client),
        observe=metrics,
        lease_seconds=p.claim_idle_seconds,
        credentials=credentials_reporter(connectors),
        batch_seconds=p.send_batch_seconds,
        send_timeout=p.send_timeout_seconds,
    )


def sender_consumer(settings: Settings, client: redis.Redis, sender: Sender, name: str | None = None) -> StreamConsumer:
    p = settings.pipeline
    return StreamConsumer(
        client,
        keys.SENDER_GROUP,
        name or consumer_name("sender"),
        sender.streams(),
        sender.handle_batch,
        sender.dead_letter_key,
        count=p.batch_size,
        max_deliveries=p.max_deliveries,
        retry_idle_ms=int(p.claim_idle_seconds * 1000),
        buried=sender.buried,
        spent=sender.spent,
    )


async def janitor(
    settings: Settings,
    client: redis.Redis,
    bus: StreamBus,
    store: ConversationStore,
    assignments: AssignmentStore,
    stop: asyncio.Event,
    interval: float = 30.0,
) -> None:
    """Trim what every group acknowledged; hand queued conversations to agents who have room."""
    accounts = [(a.platform, a.name) for a in settings.accounts]
    partitions = settings.redis.partitions
    streams = (
        bus.inbound_streams()
        + [keys.outbound_stream(p, platform, account) for platform, account in accounts for p in range(partitions)]
        + [keys.publish_stream(platform, account) for platform, account in accounts]
        + [keys.changes(p) for p in range(partitions)]
    )

    async def sweep() -> None:
        await fill_queues(store, assignments)
        for stream in streams:
            await trim_acknowledged(client, stream)

    await run_periodically("janitor", sweep, stop, interval)


async def archiver_role(settings: Settings, client: redis.Redis, stop: asyncio.Event) -> None:
    """The change streams into the SQL record (migrated to the newest schema first), by
    `database.archivers` archivers: this process is the first (and evicts and applies retention),
    the others are child processes it starts, each owning its share of the partitions, started
    again if one dies."""
    from helpline.archive.database import Database
    from helpline.archive.evict import Evictor
    from helpline.archive.retention import apply_retention

    s = settings
    shards = s.database.archiver_processes
    db = Database(s.database.url)
    try:
        await db.migrate()
        evictor = Evictor(client, db, s.redis.partitions, s.pipeline.quiet_period_hours * 3600)

        async def retention() -> None:
            r = s.retention
            await apply_retention(
                client,
                db,
                s.redis.partitions,
                [(a.platform, a.name) for a in s.accounts],
                r.conversations_days,
                r.delivery_records_days,
                r.dead_letters_days,
                r.insights_detail_days,
            )

        await asyncio.gather(
            _archive_shard(s, client, db, 0, shards, stop),
            _archiver_processes(s, shards, stop),
            run_periodically("evictor", evictor.round, stop, s.database.evict_interval_seconds),
            run_periodically("retention", retention, stop, 3600.0),
        )
    finally:
        await db.close()


async def _archive_shard(
    settings: Settings, client: redis.Redis, db: Database, shard: int, shards: int, stop: asyncio.Event
) -> None:
    from helpline.archive.archiver import Archiver
    from helpline.archive.record import Record

    s = settings
    archiver = Archiver(
        client,
        Record(db),
        s.redis.partitions,
        consumer_name("archiver") + (f"-{shard}" if shards > 1 else ""),
        batch_size=s.database.batch_size,
        claim_idle_ms=int(s.pipeline.claim_idle_seconds * 1000),
        shard=shard,
        shards=shards,
        dedupe_window_s=s.pipeline.dedupe_window_hours * 3600,
    )
    await archiver.run(stop)


async def _archiver_processes(settings: Settings, shards: int, stop: asyncio.Event) -> None:
    """Archivers 1 .. shards-1, each a child process (a Python process uses one core); one that
    exits is started again. Stopped with SIGTERM when `stop` is set."""
    if shards < 2:
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process's loop
    children: dict[int, multiprocessing.process.BaseProcess] = {}
    try:
        while True:
            for shard in range(1, shards):
                child = children.get(shard)
                if child is not None and child.is_alive():
                    continue
                if child is not None:
                    log.warning("archiver %d of %d exited (%s): started again", shard, shards, child.exitcode)
                children[shard] = child = context.Process(
                    target=archiver_process, args=(settings, shard, shards), name=f"helpline-archiver-{shard}"
                )
                child.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if stop.is_set():
                return
    finally:
        for child in children.values():
            if child.is_alive():
                child.terminate()  # SIGTERM: the archiver finishes its batch and stops
        for child in children.values():
            await asyncio.to_thread(child.join, 30)
            if child.is_alive():
                child.kill()


def archiver_process(settings: Settings, shard: int, shards: int) -> None:
    """A child process's archiver (see `archiver_role`): stops on SIGTERM, or when the process
    that started it is gone."""
    from .logs import setup_logging

    setup_logging()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    asyncio.run(_run_archiver_process(settings, shard, shards, os.getppid()))


async def _run_archiver_process(settings: Settings, shard: int, shards: int, parent: int) -> None:
    from helpline.archive.database import Database

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def orphaned() -> None:
        while not stop.is_set():
            if os.getppid() != parent:
                log.warning("archiver %d of %d: the process that started it is gone; stopping", shard, shards)
                stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    client = settings.redis.client()
    db = Database(settings.database.url)
    try:
        settle_heap()
        await asyncio.gather(
            orphaned(), role_context("archiver", _archive_shard(settings, client, db, shard, shards, stop))
        )
    finally:
        await db.close()
        await client.aclose()


def settle_heap() -> None:
    """Call once started. The roles work in batches that allocate many short-lived objects; with
    the default thresholds the garbage collector ran every 700 allocations and kept rescanning
    the start-up heap (config, models, indexes): about a quarter of the router's CPU. Freezing
    that heap and collecting the young generation less often removes most of it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def contribute_health(health: ProcessHealth, settings: Settings, client: redis.Redis, roles: set[str]) -> None:
    """The archive's lag (read from Redis) is reported by routers as well as archivers: a desk whose
    archiver is down or was never started says that its record falls behind."""
    if roles & {"router", "archiver"}:
        from helpline.archive.archiver import archive_health

        partitions = settings.redis.partitions
        health.add_component("archive", lambda: archive_health(client, partitions))


#: Serves the console's app until the event is set (the command line's uvicorn).
ServeConsole = Callable[["FastAPI", Settings, asyncio.Event], Awaitable[None]]


async def run_roles(
    settings: Settings,
    client: redis.Redis,
    roles: Iterable[str],
    stop: asyncio.Event,
    console: ServeConsole | None = None,
    health: ProcessHealth | None = None,
) -> None:
    """Build what the roles need from the settings and the Redis client, and run them until `stop`."""
    roles = set(roles)
    tasks: list[Awaitable[None]] = []
    health = health or ProcessHealth(ttl=settings.health.heartbeat_ttl_seconds)
    bus, store, assignments = make_bus(settings, client), make_store(settings, client), AssignmentStore(client)
    health.add_roles(r for r in ROLES if r in roles)
    contribute_health(health, settings, client, roles)
    startups: dict[tuple[str, str], Startup] = {}
    closing: list[Callable[[], Awaitable[None]]] = []
    connectors: dict[tuple[str, str], Connector] = {}
    if roles & {"connectors", "sender", "console", "publisher"}:
        connectors = make_connectors(settings, client, bus, store)
    try:
        for key, c in connectors.items():
            startups[key] = Startup(c)
            try:
                started = await startups[key].first()
            except StartFailed as exc:
                raise StartupFailed(str(exc)) from None
            if not started:  # the platform is unreachable: the account starts in the background
                tasks.append(role_context("connectors", startups[key].retry(stop)))
        if "router" in roles:
            await sync_roster(settings, assignments)
            leases = partition_leases(settings, client)
            await leases.refresh()
            from helpline.archive.counters import before_routing
            from helpline.archive.reader import AgentMemory  # the record, for a returning contact's last agent

            memory = AgentMemory(settings.database.url)
            closing.append(memory.close)
            await before_routing(client, memory.db)  # ids the record holds are not given again
            router = build_router(settings, client, store, assignments, leases=leases, recall=memory)
            tasks += [
                role_context("router", leases.run(stop)),
                role_context("router", router_consumer(settings, client, bus, router, leases=leases).run(stop)),
                role_context("router", janitor(settings, client, bus, store, assignments, stop, interval=5.0)),
            ]
        if roles & {"sender", "publisher"}:
            for c in connectors.values():
                health.track(c, "sending")
        if "sender" in roles:
            sender = make_sender(settings, client, connectors)
            tasks += [
                role_context("sender", sender_consumer(settings, client, sender).run(stop)),
                role_context("sender", run_promoter(sender, stop)),
            ]
        if "connectors" in roles:
            for key, c in connectors.items():
                if c.settings.mode == "polling" and c.supports_polling:
                    runner = PollRunner(client, c, ready=startups[key].ready)
                    health.track(c, runner.activity)
                    tasks.append(role_context("connectors", runner.run(stop)))
        if "publisher" in roles:
            from helpline.announcements.worker import build, run_publishing

            publishing = build(client, connectors, settings.announcements, settings.accounts)
            tasks.append(role_context("publisher", run_publishing(publishing, settings.announcements, stop)))
        if "archiver" in roles:
            tasks.append(role_context("archiver", archiver_role(settings, client, stop)))
        if "insights" in roles:
            from helpline.insights.service import Insights, run_insights

            insights = Insights.build(
                client, store, settings.redis.partitions, settings.insights, settings.sla, settings.hours
            )
            tasks.append(role_context("insights", run_insights(insights, settings.insights, stop)))
        if "console" in roles and console is not None:
            from helpline.console.app import create_app
            from helpline.console.services import Services

            app = create_app(Services.build(settings, client, bus, store, assignments, connectors, health))
            tasks.append(role_context("console", console(app, settings, stop)))
        tasks.append(health.run(client, stop))
        settle_heap()
        running = [asyncio.ensure_future(work) for work in tasks]
        tasks.clear()  # each is a task now: cancelled below, never closed under its running task
        try:
            await asyncio.gather(*running)
        finally:  # a role that failed (a console port in use) stops the others before the cleanup
            stop.set()
            await asyncio.wait(running, timeout=10.0)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
    finally:
        for work in tasks:  # not started when a later account refused to start
            if asyncio.iscoroutine(work):
                work.close()
        for c in connectors.values():
            with contextlib.suppress(Exception):
                await c.stop()
        for close in closing:
            with contextlib.suppress(Exception):
                await close()
