"""Replies that did not go out, for the inbox: a badge on the row and the "Failed sends" and
"Uncertain sends" views.

The sender records a reply that failed for good (the platform refused it: a public reply X took
for duplicate content, a chat that blocked the bot) or whose fate is unknown (the process died
while posting, no answer came) as a `reply_failed` event of its conversation. A row is flagged
while such a reply's delivery record still says so: once an operator resent it and it went out,
the flag goes. Only the conversation's latest events are read (`EVENTS`), as for the row's wait.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import DeliveryState, EventType

#: The inbox views these flags make, and the delivery state each lists.
VIEWS = {"failed": DeliveryState.FAILED.value, "uncertain": DeliveryState.UNCERTAIN.value}
EVENTS = 40  # latest events read per conversation
_MARK = EventType.REPLY_FAILED.value.encode()


@dataclass(frozen=True)
class SendTrouble:
    failed: int = 0  # replies the platform refused
    uncertain: int = 0  # replies that may or may not be on the platform

    def of(self, view: str) -> int:
        return self.failed if view == "failed" else self.uncertain if view == "uncertain" else 0


def failed_reply_ids(events_raw: Sequence[bytes | str]) -> list[str]:
    """Pure: the reply ids of the `reply_failed` events among a conversation's raw events."""
    out: list[str] = []
    for raw in events_raw:
        data = raw if isinstance(raw, bytes) else raw.encode()
        if _MARK not in data:  # most events are not: skip parsing them
            continue
        event = json.loads(data)
        reply_id = (event.get("data") or {}).get("reply_id") if event.get("type") == _MARK.decode() else None
        if reply_id and reply_id not in out:
            out.append(str(reply_id))
    return out


async def trouble_of(client: redis.Redis, reply_ids: dict[str, list[str]]) -> dict[str, SendTrouble]:
    """Per conversation id, how many of the given replies still are failed / uncertain now."""
    pairs = [(cid, rid) for cid, rids in reply_ids.items() for rid in rids]
    if not pairs:
        return {cid: SendTrouble() for cid in reply_ids}
    async with client.pipeline(transaction=False) as pipe:
        for cid, rid in pairs:
            pipe.hget(keys.delivery(keys.conversation_partition(cid), rid), "state")
        states = await pipe.execute()
    counts: dict[str, list[int]] = {cid: [0, 0] for cid in reply_ids}
    for (cid, _), state in zip(pairs, states, strict=True):
        text = as_text(state) if state else ""
        if text == DeliveryState.FAILED.value:
            counts[cid][0] += 1
        elif text == DeliveryState.UNCERTAIN.value:
            counts[cid][1] += 1
    return {cid: SendTrouble(failed, uncertain) for cid, (failed, uncertain) in counts.items()}


async def send_trouble(client: redis.Redis, conversation_ids: Sequence[str]) -> dict[str, SendTrouble]:
    """Per conversation, its replies that did not go out (from its latest events)."""
    async with client.pipeline(transaction=False) as pipe:
        for cid in conversation_ids:
            pipe.lrange(keys.events(cid), -EVENTS, -1)
        raws = await pipe.execute()
    return await trouble_of(
        client, {cid: failed_reply_ids(raw) for cid, raw in zip(conversation_ids, raws, strict=True)}
    )
