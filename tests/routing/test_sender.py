"""The sender: each reply posted once, failures recorded, rate limits honoured, doubt never retried."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext, RateLimit, SendProgress, SendResult
from helpline.connectors.errors import Permanent, RateLimited, Uncertain
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.models import Conversation, DeliveryState, EventType, MessageKind, OutboundReply, utcnow
from helpline.routing.outbound import reply_to
from helpline.routing.sender import Sender
from helpline.routing.store import ConversationStore, Effects

PARTITIONS = 4


class Scripted(Connector):
    """A platform whose answers the test scripts, counting every post it accepts."""

    platform = "null"

    def __init__(self, outcomes: list[Exception | None], idempotent: bool = False) -> None:
        super().__init__(AccountSettings(platform="null", name="main"), ConnectorContext(ingest=_no_ingest))
        self.outcomes = outcomes
        self.posts: list[str] = []
        self.idempotent_send = idempotent  # type: ignore[misc]

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.posts.append(reply.reply_id)
        return SendResult((f"p-{len(self.posts)}",))

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        return ()


async def _no_ingest(_: object) -> list[bool]:
    return []


async def queue_reply(r: redis.Redis, text: str = "hello") -> OutboundReply:
    now = utcnow()
    conv = Conversation(id="1-1", platform="null", account="main", kind=MessageKind.DIRECT, thread_key="dm",
                        contact_id="null:main:u1", created_at=now, updated_at=now)
    reply = reply_to(conv, reply_id=f"1-1:m1:{text}", text=text, sender="agent:amy", in_reply_to="m1",
                     recipient_id="u1")
    await ConversationStore(r, PARTITIONS).commit([Effects(conv.id).reply(reply, 1)], now)
    return reply


async def drain(r: redis.Redis, connector: Scripted, rounds: int = 3) -> Sender:
    sender = Sender(r, {("null", "main"): connector}, PARTITIONS)
    consumer = StreamConsumer(r, keys.SENDER_GROUP, "s1", sender.streams(), sender.handle_batch,
                              sender.dead_letter_key, block_ms=5, retry_idle_ms=30)
    await consumer.ensure_groups()
    for _ in range(rounds):
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.04)
    return sender


async def state(r: redis.Redis, reply: OutboundReply) -> str:
    return (await r.hget(keys.delivery(1, reply.reply_id), "state") or b"").decode()


async def test_a_reply_is_posted_once_even_when_delivered_twice(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([])
    await drain(r, platform)
    await r.xadd(keys.outbound_stream(1, "null", "main"), {"m": reply.model_dump_json()})  # redelivered
    await drain(r, platform)
    assert platform.posts == [reply.reply_id]
    assert await state(r, reply) == DeliveryState.SENT.value


async def test_no_answer_from_a_platform_without_idempotency_keys_is_uncertain_not_retried(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([Uncertain("read timeout")])
    await drain(r, platform, rounds=4)
    assert platform.posts == []  # not posted again: it may already be on the platform
    assert await state(r, reply) == DeliveryState.UNCERTAIN.value
    events = [e for e in await ConversationStore(r, PARTITIONS).events("1-1") if e.type is EventType.REPLY_FAILED]
    assert len(events) == 1 and "no answer" in events[0].reason


async def test_no_answer_is_retried_where_the_platform_dedupes(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([Uncertain("read timeout")], idempotent=True)
    await drain(r, platform, rounds=6)
    assert platform.posts == [reply.reply_id]
    assert await state(r, reply) == DeliveryState.SENT.value


async def test_a_429_defers_the_reply_then_it_goes_once(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([RateLimited(0.05)])
    sender = await drain(r, platform, rounds=6)
    assert platform.posts == [reply.reply_id] and sender.deferred == 1
    assert await state(r, reply) == DeliveryState.SENT.value


async def test_a_refused_reply_is_failed_with_its_reason(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([Permanent("chat not found")])
    await drain(r, platform)
    assert platform.posts == []
    assert await state(r, reply) == DeliveryState.FAILED.value
    assert (await r.hget(keys.delivery(1, reply.reply_id), "error")) == b"chat not found"


async def test_a_connector_bug_fails_that_reply_only(r: redis.Redis) -> None:
    first = await queue_reply(r, "first")
    second = await queue_reply(r, "second")
    platform = Scripted([KeyError("bug in the connector")])
    await drain(r, platform, rounds=1)
    assert platform.posts == [second.reply_id]  # the batch went on after the failing reply
    assert await state(r, first) == DeliveryState.SENDING.value  # unknown: a retry will say uncertain
    await drain(r, platform, rounds=4)
    assert platform.posts == [second.reply_id]
    assert await state(r, first) == DeliveryState.UNCERTAIN.value
