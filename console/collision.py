"""Collision warnings: who is viewing and who is typing in a conversation, live.

Each open conversation page says "I am here" every few seconds and "I am typing" while its
composer changes; both are members of a per-conversation sorted set scored by when they expire,
so a closed tab or a crashed browser simply stops counting. Every change is announced on the
live channel as `{"watchers": id}`; the live stream sends the current list to those who may see
the conversation."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis.asyncio as redis

from helpline.connectors.base import Connector
from helpline.routing import keys
from helpline.routing.models import Conversation

from .roles import Principal

log = logging.getLogger(__name__)

VIEW_TTL_MS = 30_000  # a page says it is open every 10 s (static/conversation.js)
TYPE_TTL_MS = 6_000
CUSTOMER = ":customer"  # the customer's "username" among the typists (no console user has a colon)


@dataclass(frozen=True)
class Watchers:
    viewing: list[dict[str, str]] = field(default_factory=list)  # [{"username", "name"}]
    typing: list[dict[str, str]] = field(default_factory=list)

    def as_json(self, conversation_id: str) -> dict[str, object]:
        return {"conversation_id": conversation_id, "viewing": self.viewing, "typing": self.typing}


def _now_ms() -> int:
    return int(time.time() * 1000)


async def mark(client: redis.Redis, conversation_id: str, who: Principal, typing: bool) -> None:
    """`who` views the conversation (and types in it, if `typing`). Idempotent: a repeat only
    extends the time to live."""
    now = _now_ms()
    key = keys.console_watchers(conversation_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {json.dumps(["view", who.username, who.name]): now + VIEW_TTL_MS})
        typing_member = json.dumps(["type", who.username, who.name])
        if typing:
            pipe.zadd(key, {typing_member: now + TYPE_TTL_MS})
        else:
            pipe.zrem(key, typing_member)
        pipe.pexpire(key, VIEW_TTL_MS)
        await pipe.execute()
    await announce(client, conversation_id)


async def customer_typing(client: redis.Redis, conversation_id: str) -> None:
    """The customer is typing (the web chat reports it): shown like an agent's typing, for 6 s."""
    now = _now_ms()
    key = keys.console_watchers(conversation_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {json.dumps(["type", CUSTOMER, "Customer"]): now + TYPE_TTL_MS})
        pipe.pexpire(key, VIEW_TTL_MS)
        await pipe.execute()
    await announce(client, conversation_id)


async def leave(client: redis.Redis, conversation_id: str, who: Principal) -> None:
    """The page closed. Idempotent."""
    key = keys.console_watchers(conversation_id)
    await client.zrem(key, json.dumps(["view", who.username, who.name]), json.dumps(["type", who.username, who.name]))
    await announce(client, conversation_id)


async def announce(client: redis.Redis, conversation_id: str) -> None:
    await client.publish(keys.live_channel(), json.dumps({"watchers": conversation_id}))


async def watchers(client: redis.Redis, conversation_id: str) -> Watchers:
    raw = await client.zrangebyscore(keys.console_watchers(conversation_id), _now_ms(), "+inf")
    out = Watchers()
    seen: set[tuple[str, str]] = set()
    for member in raw:
        kind, username, name = json.loads(member)
        if (kind, username) in seen:
            continue
        seen.add((kind, username))
        (out.typing if kind == "type" else out.viewing).append({"username": username, "name": name})
    return out


async def show_customer_typing(connectors: Mapping[tuple[str, str], Connector], conv: Conversation) -> None:
    """An agent types a reply: the customer sees an indicator where the platform has one (the web
    chat). A hint, best effort: it never fails the call that reported the typing."""
    connector = connectors.get((conv.platform, conv.account))
    if connector is None:
        return
    try:
        await connector.typing(conv.thread_key)
    except Exception as exc:
        log.debug("typing hint for %s not shown: %s", conv.id, type(exc).__name__)
