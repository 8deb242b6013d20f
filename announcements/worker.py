"""Running the publishing side: the publisher's consumer, its promoter and the scheduler.

In `helpline run` this is the `publisher` role (`run_publishing(build(...), settings, stop)`). It also runs as
its own process (the benchmark kills one with SIGKILL and starts another):

    python -m helpline.announcements.worker --redis-url redis://... --accounts accounts.json [--settings s.json]

`accounts.json` is a list of `[[accounts]]` tables (secrets named by environment variable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext
from helpline.connectors.registry import build_connector, capabilities_lookup
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.models import InboundMessage

from .dispatch import Dispatcher
from .incident_flow import open_for_announcement
from .incidents import IncidentStore
from .publisher import Publisher, run_promoter
from .scheduler import run_scheduler
from .settings import AnnouncementSettings

log = logging.getLogger(__name__)


@dataclass
class Publishing:
    publisher: Publisher
    dispatcher: Dispatcher
    consumer: StreamConsumer


def build(
    client: redis.Redis,
    connectors: Mapping[tuple[str, str], Connector],
    settings: AnnouncementSettings,
    accounts: Sequence[AccountSettings] = (),
    name: str | None = None,
) -> Publishing:
    dispatcher = Dispatcher(client, settings, capabilities_lookup(accounts, connectors))
    incidents = IncidentStore(client)

    async def completed(announcement_id: str, final_state: str) -> None:
        log.info("announcement %s: %s", announcement_id, final_state)
        await open_for_announcement(dispatcher.store, incidents, announcement_id, final_state)

    dispatcher.on_complete = completed
    publishable = {acc: c for acc, c in connectors.items() if c.capabilities().announcements}
    publisher = Publisher(client, publishable, settings, on_complete=completed)
    consumer = StreamConsumer(
        client,
        keys.PUBLISHER_GROUP,
        name or f"publisher-{socket.gethostname()}-{os.getpid()}",
        publisher.streams(),
        publisher.handle_batch,
        publisher.dead_letter_key,
        count=settings.batch_size,
        block_ms=200,
        max_deliveries=settings.max_deliveries + 1,
        retry_idle_ms=int(settings.claim_idle_seconds * 1000),
    )
    return Publishing(publisher, dispatcher, consumer)


async def run_publishing(p: Publishing, settings: AnnouncementSettings, stop: asyncio.Event) -> None:
    """The publisher's consumer, its promoter and the scheduler until `stop` (the `publisher` role of
    `helpline run`, whose connectors must be started)."""
    await asyncio.gather(
        p.consumer.run(stop),
        run_promoter(p.publisher, stop),
        run_scheduler(p.dispatcher, stop, settings.scheduler_interval),
    )


async def _no_ingest(messages: Sequence[InboundMessage]) -> list[bool]:
    raise RuntimeError("the publisher process does not ingest")


async def main_async(
    redis_url: str, accounts: list[AccountSettings], settings: AnnouncementSettings, name: str | None
) -> None:
    client = redis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    connectors: dict[tuple[str, str], Connector] = {}
    try:
        for account in accounts:
            connector = build_connector(account, ConnectorContext(ingest=_no_ingest, redis=client))
            await connector.start()
            connectors[(account.platform, account.name)] = connector
        await run_publishing(build(client, connectors, settings, accounts, name), settings, stop)
    finally:
        for connector in connectors.values():
            await connector.stop()
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpline.announcements.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--accounts", required=True, type=Path, help="JSON list of account settings")
    parser.add_argument("--settings", type=Path, help="JSON AnnouncementSettings")
    parser.add_argument("--name", help="consumer name (default: publisher-<host>-<pid>)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    accounts = [AccountSettings.model_validate(a) for a in json.loads(args.accounts.read_text())]
    settings = (
        AnnouncementSettings.model_validate_json(args.settings.read_text()) if args.settings else AnnouncementSettings()
    )
    asyncio.run(main_async(args.redis_url, accounts, settings, args.name))


if __name__ == "__main__":
    main()
