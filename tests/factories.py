"""Builders for test data: messages, settings, a running pipeline."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as redis
from fastapi import FastAPI

from helpline import runtime
from helpline.bots.base import Bot
from helpline.config import Settings
from helpline.connectors.base import Connector
from helpline.health.heartbeat import ProcessHealth
from helpline.routing.assignment import AssignmentStore
from helpline.routing.assignment_step import Recall
from helpline.routing.bus import StreamBus, StreamConsumer
from helpline.routing.models import Author, Conversation, InboundMessage, MessageKind
from helpline.routing.ownership import PartitionLeases
from helpline.routing.router import Router
from helpline.routing.sender import Sender
from helpline.routing.store import ConversationStore

_ids = itertools.count(1)


def message(
    text: str = "my withdrawal is stuck",
    *,
    platform: str = "null",
    account: str = "main",
    kind: MessageKind = MessageKind.DIRECT,
    thread: str = "t1",
    user: str = "u1",
    language: str | None = "en",
    message_id: str | None = None,
    **extra: Any,
) -> InboundMessage:
    return InboundMessage(
        platform=platform,
        account=account,
        kind=kind,
        message_id=message_id or f"m{next(_ids)}",
        thread_key=thread,
        author=Author(user_id=user, handle=f"@{user}", display_name=user.upper()),
        text=text,
        language=language,
        platform_time=datetime.now(UTC),
        **extra,
    )


def private_conversation(
    cid: str, *, platform: str = "null", account: str = "main", thread: str | None = None, user: str = "u1"
) -> Conversation:
    """A customer's private conversation as the router creates one (for committing replies to it)."""
    now = datetime.now(UTC)
    return Conversation(
        id=cid,
        platform=platform,
        account=account,
        kind=MessageKind.DIRECT,
        thread_key=thread or f"dm{cid}",
        contact_id=f"{platform}:{account}:{user}",
        created_at=now,
        updated_at=now,
    )


def settings(url: str = "redis://unused", **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "redis": {"url": url, "partitions": 4},
        "accounts": [{"platform": "null", "name": "main"}],
        "teams": [{"id": "support", "default": True}],
    }
    data.update(overrides)
    return Settings(**data)


@dataclass
class Parts:
    """What a test holds of one process, built as `runtime.run_roles` builds it (the functions
    below hand its pieces to the runtime's, which take them explicitly)."""

    settings: Settings
    client: redis.Redis
    bus: StreamBus
    store: ConversationStore
    assignments: AssignmentStore
    connectors: dict[tuple[str, str], Connector] = field(default_factory=dict)
    health: ProcessHealth = field(default_factory=ProcessHealth)

    @classmethod
    def build(cls, settings: Settings, client: redis.Redis) -> Parts:
        return cls(
            settings,
            client,
            runtime.make_bus(settings, client),
            runtime.make_store(settings, client),
            AssignmentStore(client),
            health=ProcessHealth(ttl=settings.health.heartbeat_ttl_seconds),
        )

    def make_connectors(self, transport: Any = None, extra: dict[str, Any] | None = None) -> None:
        self.connectors.update(
            runtime.make_connectors(self.settings, self.client, self.bus, self.store, transport, extra)
        )

    async def sync_roster(self) -> None:
        await runtime.sync_roster(self.settings, self.assignments)


def parts(client: redis.Redis, **overrides: Any) -> Parts:
    return Parts.build(settings(**overrides), client)


def build_router(
    p: Parts, bots: dict[str, Bot] | None = None, leases: PartitionLeases | None = None, recall: Recall | None = None
) -> Router:
    return runtime.build_router(p.settings, p.client, p.store, p.assignments, bots, leases, recall)


def router_consumer(
    p: Parts, router: Router, name: str | None = None, leases: PartitionLeases | None = None
) -> StreamConsumer:
    return runtime.router_consumer(p.settings, p.client, p.bus, router, name, leases)


def make_sender(p: Parts, connectors: Mapping[tuple[str, str], Connector] | None = None) -> Sender:
    return runtime.make_sender(p.settings, p.client, p.connectors if connectors is None else connectors)


def sender_consumer(p: Parts, sender: Sender, name: str | None = None) -> StreamConsumer:
    return runtime.sender_consumer(p.settings, p.client, sender, name)


def services(p: Parts) -> Any:
    from helpline.console.services import Services

    return Services.build(p.settings, p.client, p.bus, p.store, p.assignments, p.connectors, p.health)


def create_app(p: Parts) -> FastAPI:
    from helpline.console.app import create_app

    return create_app(services(p))


def contribute_health(p: Parts, roles: set[str]) -> None:
    runtime.contribute_health(p.health, p.settings, p.client, roles)


async def route_all(p: Parts, router: Any, rounds: int = 5) -> None:
    """Run the router's consumer until the inbound streams are drained."""
    c = router_consumer(p, router, name="test-router")
    c.block_ms = 5
    await c.ensure_groups()
    for _ in range(rounds):
        if await c.step() == 0:
            break
