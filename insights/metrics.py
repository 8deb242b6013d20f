"""Prometheus metrics: process counters/histograms the router and sender observe, and a
collector that reads queue depths, dead letters, SLA state and connector health at scrape time.

Everything is registered on `REGISTRY` (not the global default) so importing this module never
changes another registry. Call sites (wired by the router/sender owners):

    observe_ingest(platform, account, count, seconds)    after StreamBus.ingest returns
    observe_route(batch_size, seconds, failures)          after Router.handle_batch returns
    observe_send(platform, account, outcome, seconds)     after each connector send
    observe_rate_limited(platform, account)               when a reply is deferred by a 429/limit
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as redis
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from helpline.connectors.base import AccountSettings
from helpline.health.models import ProcessBeat
from helpline.health.view import desk_health
from helpline.routing import keys
from helpline.routing.decode import as_text

#: This process's own heartbeat now (`ProcessHealth.beat`), counted live in the desk's health.
LocalBeat = Callable[[], Awaitable[ProcessBeat]]

REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

INGESTED = Counter(
    "helpline_ingested_messages_total",
    "Messages handed to the inbound streams",
    ["platform", "account"],
    registry=REGISTRY,
)
INGEST_SECONDS = Histogram(
    "helpline_ingest_seconds", "Time of one ingest call", ["platform"], buckets=_LATENCY, registry=REGISTRY
)
ROUTED = Counter("helpline_routed_messages_total", "Messages the router handled", registry=REGISTRY)
ROUTE_FAILURES = Counter("helpline_route_failures_total", "Messages the router failed", registry=REGISTRY)
ROUTE_SECONDS = Histogram(
    "helpline_route_batch_seconds", "Time to route one batch", buckets=_LATENCY, registry=REGISTRY
)
SENT = Counter(
    "helpline_replies_total", "Replies by send outcome", ["platform", "account", "outcome"], registry=REGISTRY
)
SEND_SECONDS = Histogram(
    "helpline_send_seconds", "Time of one platform send", ["platform"], buckets=_LATENCY, registry=REGISTRY
)
RATE_LIMITED = Counter(
    "helpline_rate_limit_blocks_total", "Replies deferred by a rate limit", ["platform", "account"], registry=REGISTRY
)
HELP_PAGE_SECONDS = Histogram(
    "helpline_help_page_seconds",
    "Server time of one help-center page, to the start of its response",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
SLA_ESCALATIONS = Counter(
    "helpline_sla_escalations_total", "SLA warnings fired by this process", ["target"], registry=REGISTRY
)
SLA_BREACHES = Counter(
    "helpline_sla_breaches_total", "SLA breaches recorded by this process", ["target"], registry=REGISTRY
)


def observe_ingest(platform: str, account: str, count: int, seconds: float) -> None:
    INGESTED.labels(platform=platform, account=account).inc(count)
    INGEST_SECONDS.labels(platform=platform).observe(seconds)


def observe_help_page(seconds: float) -> None:
    HELP_PAGE_SECONDS.observe(seconds)


def observe_route(batch_size: int, seconds: float, failures: int = 0) -> None:
    ROUTED.inc(max(0, batch_size - failures))
    ROUTE_FAILURES.inc(failures)
    ROUTE_SECONDS.observe(seconds)


def observe_send(platform: str, account: str, outcome: str, seconds: float) -> None:
    """outcome: "sent", "failed", "deferred" (rate limit), "transient" (retried later) or "uncertain"."""
    sent, send_seconds = _send_metrics(platform, account, outcome)
    sent.inc()
    send_seconds.observe(seconds)


@functools.cache
def _send_metrics(platform: str, account: str, outcome: str) -> tuple[Counter, Histogram]:
    """The labelled children, looked up once (a lookup costs more than the update, per reply)."""
    return SENT.labels(platform, account, outcome), SEND_SECONDS.labels(platform)


def observe_rate_limited(platform: str, account: str) -> None:
    RATE_LIMITED.labels(platform=platform, account=account).inc()


@dataclass
class Snapshot:
    """What the collector reports, read from Redis just before a scrape (collectors are sync)."""

    streams: list[tuple[str, str, int]] = field(default_factory=list)  # stream, kind, length
    groups: list[tuple[str, str, int, int]] = field(default_factory=list)  # stream, group, pending, lag
    dead: list[tuple[int, int]] = field(default_factory=list)  # partition, length
    sla_due: int = 0
    sla_breaches_today: int = 0
    connectors: list[tuple[str, str, str]] = field(default_factory=list)  # platform, account, status


class HelplineCollector(Collector):
    """The desk's state in Redis (streams, dead letters, SLA clocks, connectors' health) as gauges."""

    def __init__(
        self, client: redis.Redis, partitions: int, accounts: Sequence[AccountSettings], local_beat: LocalBeat
    ) -> None:
        self.client = client
        self.partitions = partitions
        self.accounts = list(accounts)
        self.local_beat = local_beat
        self.snapshot = Snapshot()

    def streams(self) -> list[tuple[str, str]]:
        inbound = [(keys.inbound_stream(p), "inbound") for p in range(self.partitions)]
        outbound = [
            (keys.outbound_stream(p, a.platform, a.name), "outbound")
            for a in self.accounts
            for p in range(self.partitions)
        ]
        return inbound + outbound

    async def refresh(self) -> None:
        client = self.client
        streams = self.streams()
        partitions = self.partitions
        today = datetime.now(UTC).strftime("%Y%m%d")
        async with client.pipeline(transaction=False) as pipe:
            for name, _ in streams:
                pipe.xlen(name)
            for p in range(partitions):
                pipe.xlen(keys.dead_letters(p))
            pipe.zcard(keys.insights_sla_due())
            pipe.hgetall(keys.insights_counters(today, "*|*|*", "all"))
            raw = await pipe.execute()
        snap = Snapshot()
        snap.streams = [(name, kind, int(n)) for (name, kind), n in zip(streams, raw, strict=False)]
        snap.dead = [(p, int(raw[len(streams) + p])) for p in range(partitions)]
        snap.sla_due = int(raw[-2])
        cells = {k.decode(): int(v) for k, v in raw[-1].items()}
        snap.sla_breaches_today = sum(v for k, v in cells.items() if k.startswith("sla_") and "_breached|" in k)
        for name, _, length in snap.streams:
            if length == 0:
                continue  # a stream that was never written has no groups worth reporting
            for g in await self._groups(name):
                snap.groups.append(
                    (name, as_text(g.get("name", "")), int(g.get("pending") or 0), int(g.get("lag") or 0))
                )
        # The shared view: an account is up when a live process polls (or serves) it and says ok.
        desk = await desk_health(client, self.accounts, local=await self.local_beat())
        snap.connectors = [(a.platform, a.account, a.status) for a in desk.accounts]
        self.snapshot = snap

    async def _groups(self, stream: str) -> list[dict[str, Any]]:
        try:
            groups: list[dict[str, Any]] = await self.client.xinfo_groups(stream)
        except redis.ResponseError:  # deleted between XLEN and XINFO: no groups
            return []
        return groups

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        length = GaugeMetricFamily("helpline_stream_length", "Entries in a stream", labels=["stream", "kind"])
        for name, kind, n in s.streams:
            length.add_metric([name, kind], n)
        pending = GaugeMetricFamily(
            "helpline_stream_pending", "Delivered, not acknowledged", labels=["stream", "group"]
        )
        lag = GaugeMetricFamily(
            "helpline_stream_lag", "Entries not yet delivered to the group", labels=["stream", "group"]
        )
        for name, group, p, lg in s.groups:
            pending.add_metric([name, group], p)
            lag.add_metric([name, group], lg)
        dead = GaugeMetricFamily("helpline_dead_letters", "Entries in a dead-letter stream", labels=["partition"])
        for p, n in s.dead:
            dead.add_metric([str(p)], n)
        due = GaugeMetricFamily("helpline_sla_open_clocks", "Conversations with a running SLA clock", value=s.sla_due)
        breaches = GaugeMetricFamily(
            "helpline_sla_breaches_today", "SLA breaches counted today (UTC day)", value=s.sla_breaches_today
        )
        up = GaugeMetricFamily(
            "helpline_connector_up",
            "1 when a live process polls (or serves) the account and reports it ok, from the processes' heartbeats",
            labels=["platform", "account", "status"],
        )
        for platform, account, status in s.connectors:
            up.add_metric([platform, account, status], 1.0 if status == "ok" else 0.0)
        yield from (length, pending, lag, dead, due, breaches, up)


def metrics_router(
    client: redis.Redis, partitions: int, accounts: Sequence[AccountSettings], local_beat: LocalBeat
) -> APIRouter:
    """GET /metrics in the Prometheus text format (process metrics + a fresh Redis snapshot)."""
    collector = HelplineCollector(client, partitions, accounts, local_beat)
    # The Redis snapshot is per app; the process metrics are shared by the process.
    state = CollectorRegistry(auto_describe=False)
    state.register(collector)
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        await collector.refresh()
        return Response(generate_latest(REGISTRY) + generate_latest(state), media_type=CONTENT_TYPE_LATEST)

    return router
