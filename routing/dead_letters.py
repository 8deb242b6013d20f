"""Replaying dead letters: an operator puts chosen entries back on the stream they came from.

Each dead letter is replayed once (it leaves the dead letters in the same atomic call), and
idempotency still applies: a reply whose record says "sent" is not queued again; another takes a
new place at the end of its conversation's reply order. Updates a connector rejected as unusable
(`StreamBus.reject`) never reached a stream and cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis
from pydantic import ValidationError

from . import keys
from .decode import as_text
from .delivery import REPLAY
from .models import OutboundReply


async def replay(
    client: redis.Redis, partitions: int, entry_ids: Sequence[str], partition: int | None = None
) -> dict[str, str]:
    """Replay the dead letters with these ids (of `partition`, else of whichever partition holds
    the id). Returns per id what happened: "replayed", "already sent", or why not."""
    script = client.register_script(REPLAY)
    outcome: dict[str, str] = {}
    where = range(partitions) if partition is None else [partition]
    for entry_id in entry_ids:
        found = []
        for p in where:
            rows = await client.xrange(keys.dead_letters(p), entry_id, entry_id)
            found += [(p, fields) for _, fields in rows]
        if not found:
            outcome[entry_id] = "no such dead letter"
            continue
        if len(found) > 1:
            outcome[entry_id] = f"in partitions {sorted(p for p, _ in found)}: name one with --partition"
            continue
        p, raw = found[0]
        fields = {as_text(k): v for k, v in raw.items()}
        stream, payload = as_text(fields.get("stream", b"")), fields.get("m", b"")
        if not stream.startswith(keys.partition_prefix(p) + ":"):
            outcome[entry_id] = f"cannot be replayed: it came from {stream or 'nowhere'}, not a stream"
            continue
        reply_keys = ["", "", ""]
        if stream.startswith(keys.partition_prefix(p) + ":out:"):
            try:
                reply = OutboundReply.model_validate_json(payload)
            except ValidationError:
                outcome[entry_id] = "cannot be replayed: not a valid reply"
                continue
            rp = keys.conversation_partition(reply.conversation_id)
            reply_keys = [
                keys.delivery(rp, reply.reply_id),
                keys.reply_order(reply.conversation_id),
                keys.reply_seq(rp),
            ]
        result = as_text(await script(keys=[keys.dead_letters(p), stream, *reply_keys], args=[entry_id, payload]))
        outcome[entry_id] = {
            "replayed": "replayed",
            "sent": "already sent: not queued again",
            "gone": "no such dead letter",
        }[result]
    return outcome
