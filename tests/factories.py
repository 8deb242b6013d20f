"""Builders for test data: messages, settings, a running pipeline."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as redis

from helpline.config import Settings
from helpline.routing.models import Author, InboundMessage, MessageKind
from helpline.runtime import Parts

_ids = itertools.count(1)


def message(text: str = "my withdrawal is stuck", *, platform: str = "null", account: str = "main",
            kind: MessageKind = MessageKind.DIRECT, thread: str = "t1", user: str = "u1",
            language: str | None = "en", message_id: str | None = None, **extra: Any) -> InboundMessage:
    return InboundMessage(
        platform=platform, account=account, kind=kind, message_id=message_id or f"m{next(_ids)}",
        thread_key=thread, author=Author(user_id=user, handle=f"@{user}", display_name=user.upper()),
        text=text, language=language, platform_time=datetime.now(UTC), **extra,
    )


def settings(url: str = "redis://unused", **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "redis": {"url": url, "partitions": 4},
        "accounts": [{"platform": "null", "name": "main"}],
        "teams": [{"id": "support", "default": True}],
    }
    data.update(overrides)
    return Settings(**data)


def parts(client: redis.Redis, **overrides: Any) -> Parts:
    return Parts.build(settings(**overrides), client)


async def route_all(p: Parts, router: Any, rounds: int = 5) -> None:
    """Run the router's consumer until the inbound streams are drained."""
    from helpline.runtime import router_consumer

    c = router_consumer(p, router, name="test-router")
    c.block_ms = 5
    await c.ensure_groups()
    for _ in range(rounds):
        if await c.step() == 0:
            break
