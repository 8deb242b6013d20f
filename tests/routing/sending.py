"""What the sender tests share: a reply queued the way the router queues one, and a sender's
consumer on the outbound streams."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.models import OutboundReply, utcnow
from helpline.routing.outbound import reply_to
from helpline.routing.sender import Sender
from helpline.routing.store import ConversationStore, Effects
from tests.factories import private_conversation

PARTITIONS = 4


async def no_ingest(_: object) -> list[bool]:
    """A connector's ingest for platforms that only send."""
    return []


async def queue_reply(
    r: redis.Redis, text: str = "hello", conversation: str = "1-1", account: str = "main"
) -> OutboundReply:
    """An agent's reply to a private conversation (of the "null" platform's `account`), committed
    as the router commits one."""
    now = utcnow()
    conv = private_conversation(conversation, account=account)
    reply = reply_to(
        conv, reply_id=f"{conversation}:m1:{text}", text=text, sender="agent:amy", in_reply_to="m1", recipient_id="u1"
    )
    await ConversationStore(r, PARTITIONS).commit([Effects(conv.id).reply(reply, 1)], now)
    return reply


def outbound_consumer(r: redis.Redis, sender: Sender, name: str = "s1", **options: Any) -> StreamConsumer:
    """The sender's consumer, blocking 5 ms per read; `options` as StreamConsumer takes them."""
    return StreamConsumer(
        r,
        keys.SENDER_GROUP,
        name,
        sender.streams(),
        sender.handle_batch,
        sender.dead_letter_key,
        block_ms=5,
        **options,
    )
