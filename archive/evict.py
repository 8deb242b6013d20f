"""Eviction: a conversation leaves Redis once it is resolved, its quiet period has passed and the
record holds it at its current `version` (with every reply's final delivery state). Reopening it
later restores it from the record (`reader.restore`).

The check and the deletes are one Lua call per partition, so a change that lands between the
record's read and the eviction (a late message, an agent's note) keeps the conversation in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis.asyncio as redis
from sqlalchemy import select

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.scripts import LUA_SPLIT, SEP

from .database import Database
from .schema import conversations, replies

# KEYS[1] partition prefix. ARGV: now (ms), quiet period (ms), then per conversation: its id and
# its archived facts joined by SEP: version, created_at (another conversation under the same id is
# not the one archived), then reply id / archived state pairs. Returns {id, contact
# id} of each conversation evicted.
_EVICT = (
    LUA_SPLIT
    + """
local prefix = KEYS[1]
local now, quiet = tonumber(ARGV[1]), tonumber(ARGV[2])
local FINAL = {sent = true, failed = true, uncertain = true}
local evicted = {}
for i = 3, #ARGV, 2 do
  local conv = ARGV[i]
  local facts = split(ARGV[i + 1])
  local c = prefix .. ':conv:' .. conv
  local h = redis.call('HMGET', c, 'status', 'updated_at', 'version', 'platform', 'account', 'thread_key',
    'once_markers', 'contact_id', 'created_at')
  local safe = h[1] == 'resolved' and now - tonumber(h[2] or now) > quiet and h[3] == facts[1]
    and tonumber(h[9] or 0) == tonumber(facts[2])
  for k = 3, #facts - 1, 2 do
    local state = redis.call('HGET', prefix .. ':reply:' .. facts[k], 'state')
    if state and (state ~= facts[k + 1] or not FINAL[state]) then safe = false end
  end
  if safe then
    local doomed = {c, c .. ':messages', c .. ':events'}
    for k = 3, #facts - 1, 2 do doomed[#doomed + 1] = prefix .. ':reply:' .. facts[k] end
    if h[7] and h[7] ~= '' then
      for marker in string.gmatch(h[7], '[^,]+') do doomed[#doomed + 1] = c .. ':' .. marker end
    end
    redis.call('DEL', unpack(doomed))
    local thread = prefix .. ':thread:' .. h[4] .. ':' .. h[5] .. ':' .. h[6]
    if redis.call('GET', thread) == conv then redis.call('DEL', thread) end
    redis.call('ZREM', prefix .. ':idx:updated', conv)
    evicted[#evicted + 1] = {conv, h[8] or ''}
  end
end
return evicted
"""
)

CANDIDATES = 500  # conversations looked at per partition per round


class Evictor:
    def __init__(self, client: redis.Redis, db: Database, partitions: int, quiet_period_s: float) -> None:
        self.client = client
        self.db = db
        self.partitions = partitions
        self.quiet_ms = int(quiet_period_s * 1000)
        self._evict = client.register_script(_EVICT)
        self.evicted = 0

    async def round(self, now_ms: int | None = None) -> int:
        """Evict what may go, partition by partition. Idempotent; returns the conversations evicted."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        total = 0
        for p in range(self.partitions):
            start = 0  # past the quiet conversations that must stay (open ones, unarchived ones)
            while True:
                ids = [
                    as_text(cid)
                    for cid in await self.client.zrangebyscore(
                        keys.conversations_by_update(p),
                        "-inf",
                        f"({now_ms - self.quiet_ms}",
                        start=start,
                        num=CANDIDATES,
                    )
                ]
                gone = await self.evict(p, ids, now_ms)
                total += len(gone)
                start += len(ids) - len(gone)
                if len(ids) < CANDIDATES:
                    break
        self.evicted += total
        return total

    async def evict(self, partition: int, conversation_ids: Sequence[str], now_ms: int) -> list[str]:
        if not conversation_ids:
            return []
        async with self.db.engine.connect() as conn:
            found = await conn.execute(
                select(conversations.c.id, conversations.c.rev, conversations.c.created_at).where(
                    conversations.c.id.in_(conversation_ids)
                )
            )
            revs: dict[str, tuple[int, int]] = {row[0]: (row[1], row[2]) for row in found}
            states: dict[str, list[str]] = {}
            for cid, reply_id, state in (
                await conn.execute(
                    select(replies.c.conversation_id, replies.c.reply_id, replies.c.state).where(
                        replies.c.conversation_id.in_(list(revs))
                    )
                )
            ).all():
                states.setdefault(cid, []).extend((reply_id, state))
        args: list[str | int] = [now_ms, self.quiet_ms]
        for cid, (rev, created_at) in revs.items():
            args += [cid, SEP.join([str(rev), str(created_at), *states.get(cid, [])])]
        if len(args) == 2:
            return []
        gone = await self._evict(keys=[keys.partition_prefix(partition)], args=args)
        evicted = [(as_text(cid), as_text(contact)) for cid, contact in gone]
        if evicted:
            await self._forget(evicted)
        return [cid for cid, _ in evicted]

    async def _forget(self, evicted: Sequence[tuple[str, str]]) -> None:
        """What other rooms keep per conversation goes with it (outside the partition's slot). The
        contact expires after a quiet period of its own (their next message removes the expiry);
        the record keeps it, last agent included, for readers and the router meanwhile."""
        users = [as_text(u) for u in await self.client.smembers(keys.console_users())]  # type: ignore[misc]
        ids = [cid for cid, _ in evicted]
        async with self.client.pipeline(transaction=False) as pipe:
            for cid, contact in evicted:
                pipe.delete(keys.insights_state(cid), keys.insights_rating(cid), keys.assignment(cid))
                if contact:
                    pipe.expire(keys.contact(contact), max(1, self.quiet_ms // 1000))
            for user in users:
                pipe.hdel(keys.console_seen(user), *ids)
            await pipe.execute()
