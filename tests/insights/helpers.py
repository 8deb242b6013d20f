"""Constructed conversation histories, written to Redis the way routing writes them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.models import ConversationEvent, EventType


def ev(cid: str, type_: EventType, at: datetime, actor: str = "router", **data: Any) -> ConversationEvent:
    return ConversationEvent(conversation_id=cid, type=type_, actor=actor, data=data, at=at)


def opened(cid: str, at: datetime, team: str = "support", labels: list[str] | None = None) -> list[ConversationEvent]:
    return [
        ev(cid, EventType.CREATED, at, platform="x", account="main"),
        ev(cid, EventType.ROUTED, at, team=team, labels=labels or [], priority="normal", bot=None),
    ]


async def seed(
    r: redis.Redis,
    cid: str,
    *,
    messages: list[datetime],
    events: list[ConversationEvent],
    platform: str = "x",
    account: str = "main",
    language: str = "en",
    team: str = "support",
) -> None:
    """Append to a conversation (creating its hash on first use)."""
    await r.hset(
        keys.conversation(cid),
        mapping={  # type: ignore[misc]
            "id": cid,
            "platform": platform,
            "account": account,
            "kind": "direct",
            "thread_key": cid,
            "contact_id": f"{platform}:{account}:u",
            "language": language,
            "team": team,
            "status": "open",
            "labels": json.dumps([]),
            "created_at": int(messages[0].timestamp() * 1000) if messages else 0,
        },
    )
    for i, at in enumerate(messages):
        score = int(at.timestamp() * 1000) * 1000
        await r.zadd(keys.messages(cid), {json.dumps({"n": i, "at": score}): score})
    for e in events:
        await r.rpush(keys.events(cid), e.model_dump_json())  # type: ignore[misc]
    p = keys.conversation_partition(cid)
    stamp = max([int(t.timestamp() * 1000) for t in messages] + [int(e.at.timestamp() * 1000) for e in events])
    await r.zadd(keys.conversations_by_update(p), {cid: stamp})


async def dump(r: redis.Redis) -> dict[str, Any]:
    """Every insights aggregate (hashes without zero fields, day scope sets), for comparisons. The
    backlog scope index is left out: it remembers scopes whose gauges went back to zero."""
    out: dict[str, Any] = {}
    prefix = keys.insights_prefix()
    async for key in r.scan_iter(match=f"{prefix}:*"):
        name = key.decode()
        if any(part in name for part in (":conv:", ":watermark", ":rating:", ":sla-due", ":backlog-scopes")):
            continue
        kind = (await r.type(key)).decode()
        if kind == "hash":
            fields = (await r.hgetall(key)).items()  # type: ignore[misc]
            h = {k.decode(): int(v) for k, v in fields if int(v) != 0 and k != b"from"}  # from: when counted
            if h:
                out[name] = h
        elif kind == "set":
            out[name] = {m.decode() for m in await r.smembers(key)}  # type: ignore[misc]
    return out
