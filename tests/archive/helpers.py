"""Running the pipeline and the archiver in tests."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from sqlalchemy import func, select

from helpline.archive.archiver import Archiver
from helpline.archive.database import Database
from helpline.archive.record import Record
from helpline.archive.schema import conversations, events, messages, replies
from helpline.bots.autoreply import AutoReplyBot
from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.null import NullConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing.models import InboundMessage
from helpline.routing.rules import Rule
from helpline.routing.sender import Sender
from tests.factories import Parts, build_router, parts, route_all, sender_consumer

ACK = {"en": "Thanks, we got it.", "ko": "접수되었습니다."}


async def _no_ingest(_: object) -> list[bool]:
    return []


class Desk:
    """The router with an acknowledging bot, a sender on the null platform and an archiver."""

    def __init__(self, client: redis.Redis, db: Database, **overrides: Any) -> None:
        self.parts: Parts = parts(client, **overrides)
        self.parts.settings.rules.append(Rule(name="all", set={"bot": "ack"}))
        self.router = build_router(self.parts, {"ack": AutoReplyBot(ACK, name="ack", handoff=False)})
        connector = NullConnector(AccountSettings(platform="null", name="main"), ConnectorContext(ingest=_no_ingest))
        self.sender = Sender(
            client,
            {("null", "main"): connector},
            self.parts.settings.redis.partitions,
            limiter=SharedRateLimiter(client),
        )
        self.db = db
        self.record = Record(db)
        self.archiver = Archiver(
            client, self.record, self.parts.settings.redis.partitions, "test-archiver", claim_idle_ms=60_000
        )

    async def ingest(self, messages: list[InboundMessage]) -> None:
        await self.parts.bus.ingest(messages)
        await route_all(self.parts, self.router)

    async def send(self) -> None:
        consumer = sender_consumer(self.parts, self.sender, name="test-sender")
        consumer.block_ms = 5
        await consumer.ensure_groups()
        for _ in range(5):
            if await consumer.step() == 0:
                break

    async def archive(self) -> int:
        return await self.archiver.catch_up()

    async def count(self, table: Any) -> int:
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def counts(self) -> dict[str, int]:
        return {t.name: await self.count(t) for t in (conversations, messages, events, replies)}
