"""Live updates: every change to a conversation is announced on `keys.live_channel()` as
`{"conversations": [ids]}` (the router does it too); the SSE stream relays to each user only the
conversations they may see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import Conversation
from helpline.routing.store import ConversationStore

from .alerts import PRIME_WINDOW, Alerts
from .collision import watchers
from .roles import Principal, can_view

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
RECHECK_S = 10.0  # how stale an open stream's view of its user's rights may get


async def publish(client: redis.Redis, conversation_ids: Iterable[str], by: str | None = None) -> None:
    """`by`: the user whose action changed them (their own page does not alert them of it)."""
    ids = sorted(set(conversation_ids))
    if ids:
        await client.publish(keys.live_channel(), json.dumps({"conversations": ids, **({"by": by} if by else {})}))


async def _recent(client: redis.Redis, store: ConversationStore) -> list[Conversation]:
    """The most recently changed conversations (what a new stream's alerts take as known)."""
    async with client.pipeline(transaction=False) as pipe:
        for p in range(store.partitions):
            pipe.zrevrange(keys.conversations_by_update(p), 0, PRIME_WINDOW - 1)
        per_partition = await pipe.execute()
    return await store.get_many([as_text(cid) for ids in per_partition for cid in ids])


def sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(
    client: redis.Redis,
    store: ConversationStore,
    who: Principal,
    disconnected: asyncio.Event | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    reauthorize: Callable[[], Awaitable[Principal | None]] | None = None,
    recheck_s: float | None = None,
) -> AsyncIterator[bytes]:
    """Server-sent events for one user: `conversations` events with the visible ids, `alert`
    events when one becomes assigned to the user or escalated (console/alerts.py), `watchers`
    events (who views or types in a visible conversation), `notice`
    events (SLA warnings and breaches) for supervisors and admins, and comments as heartbeats
    (they also let the server notice a client that went away).

    `reauthorize` reads the caller's rights again (None: signed out, disabled, token revoked); it
    is asked every `recheck_s`, so a changed role or team applies to an open stream, and a
    revoked one ends it with a `signed-out` event."""
    recheck_s = RECHECK_S if recheck_s is None else recheck_s
    pubsub = client.pubsub()
    await pubsub.subscribe(keys.live_channel())
    loop = asyncio.get_running_loop()
    checked = loop.time()
    alerts = Alerts(who)
    try:
        alerts.prime(await _recent(client, store))  # after subscribing: a change meanwhile is not missed
        yield b"retry: 2000\n\n"
        yield sse("ready", {"user": who.username})
        while disconnected is None or not disconnected.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(heartbeat_s, recheck_s))
            if reauthorize is not None and loop.time() - checked >= recheck_s:
                checked = loop.time()
                current = await reauthorize()
                if current is None:
                    yield sse("signed-out", {"user": who.username})
                    return
                who = current
            if message is None:
                yield b": keep-alive\n\n"
                continue
            try:
                data = json.loads(message["data"])
                if "notice" in data:  # an SLA warning or breach: for those who manage the desk
                    if who.manages:
                        yield sse("notice", data["notice"])
                    continue
                if "watchers" in data:  # who views or types in a conversation (console/collision.py)
                    cid = str(data["watchers"])
                    found = await store.get(cid)
                    if found is not None and can_view(who, found):
                        yield sse("watchers", (await watchers(client, cid)).as_json(cid))
                    continue
                ids = [str(i) for i in data["conversations"]]
                by = data.get("by")
            except (ValueError, KeyError, TypeError):
                log.warning("live: ignoring a malformed message on the live channel")
                continue
            seen = [c for c in await store.get_many(ids) if can_view(who, c)]
            if seen:
                yield sse("conversations", {"conversations": [c.id for c in seen]})
                alerts.who = who
                for alert in alerts.changes(seen, by=by):
                    yield sse("alert", alert)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
