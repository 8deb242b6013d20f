"""A delivery report that arrives after a reply was sent: a bounce marks it failed, with why.

Some platforms only say later that a post did not reach the customer (an e-mail bounces minutes
after the SMTP server accepted it). The reply's delivery record becomes "failed" and the
conversation gets a REPLY_FAILED event in one atomic call, so the agents see it.
"""

from __future__ import annotations

import json

import redis.asyncio as redis

from . import keys
from .models import ConversationEvent, DeliveryState, EventType, utcnow

# KEYS: delivery record, events list. ARGV: state, error, now (ms), event json.
# Idempotent: a record already failed with this error is left alone (a bounce read twice).
_MARK = """
if redis.call('HGET', KEYS[1], 'state') == ARGV[1] and redis.call('HGET', KEYS[1], 'error') == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'error', ARGV[2], 'updated_at', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[4])
return 1
"""


async def mark_reply_failed(
    client: redis.Redis, conversation_id: str, reply_id: str, error: str, actor: str = "sender"
) -> bool:
    """Record that a sent reply did not arrive. Idempotent; True if the record changed."""
    now = utcnow()
    event = ConversationEvent(
        conversation_id=conversation_id,
        type=EventType.REPLY_FAILED,
        actor=actor,
        reason=error,
        data={"reply_id": reply_id, "state": DeliveryState.FAILED.value},
        at=now,
    )
    partition = keys.conversation_partition(conversation_id)
    changed = await client.eval(
        _MARK,
        2,
        keys.delivery(partition, reply_id),
        keys.events(conversation_id),
        DeliveryState.FAILED.value,
        error,
        str(int(now.timestamp() * 1000)),
        event.model_dump_json(),
    )  # type: ignore[misc]
    if changed:
        await client.publish(keys.live_channel(), json.dumps({"conversations": [conversation_id]}))
    return bool(changed)
