"""Delivery records: the idempotency record and status of each (announcement, target[, recipient]).

    queued ──► sending ──► sent (platform ids, url)
                  │ └────► failed (error)                      permanent errors
                  ├──────► queued again, later                 429 / transient / rate limit
                  └──────► uncertain                           found "sending" after a crash

"sending" is written (compare-and-set from "queued") before the platform call and the final
state right after it, with the announcement's counters in the same Lua call; the call that makes
the last delivery final also moves the announcement to published / partly_failed / failed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import redis.asyncio as redis
from pydantic import Field

from helpline.connectors.publishing import OutboundPost
from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import DeliveryState, Wire, utcnow

from .models import DeliveryRecord

# The announcement is complete when dispatched and every delivery is final. KEYS[1] meta,
# KEYS[2] publishing set. Defined once, used by the record and the dispatch scripts.
_COMPLETE = """
local function complete(meta, publishing)
  local f = redis.call('HMGET', meta, 'dispatched', 'state', 'total', 'n_sent', 'n_failed', 'n_uncertain')
  if f[1] ~= '1' or f[2] ~= 'publishing' then return '' end
  local total, sent = tonumber(f[3] or '0'), tonumber(f[4] or '0')
  local bad = tonumber(f[5] or '0') + tonumber(f[6] or '0')
  if sent + bad < total then return '' end
  local state = 'partly_failed'
  if bad == 0 and total > 0 then state = 'published' elseif sent == 0 then state = 'failed' end
  redis.call('HSET', meta, 'state', state)
  redis.call('HINCRBY', meta, 'version', 1)
  redis.call('SREM', publishing, meta)
  return state
end
"""

# KEYS: meta, publishing, delivery. ARGV: state, platform ids json, url, error, now ms.
_RECORD = (
    _COMPLETE
    + """
local finals = {sent = true, failed = true, uncertain = true}
local prev = redis.call('HGET', KEYS[3], 'state') or 'queued'
if prev == 'sent' and ARGV[1] ~= 'sent' then return '' end
redis.call('HSET', KEYS[3], 'state', ARGV[1], 'platform_ids', ARGV[2], 'url', ARGV[3], 'error', ARGV[4],
           'updated_at', ARGV[5])
if finals[prev] then redis.call('HINCRBY', KEYS[1], 'n_' .. prev, -1) end
if finals[ARGV[1]] then redis.call('HINCRBY', KEYS[1], 'n_' .. ARGV[1], 1) end
if ARGV[3] ~= '' then redis.call('HSETNX', KEYS[1], 'first_url', ARGV[3]) end
return complete(KEYS[1], KEYS[2])
"""
)

# KEYS: meta, deliveries list. ARGV: delivery key prefix, then (delivery id, target, recipient)
# triples. Creates missing records as queued; returns every record's state.
_ENQUEUE = """
local out = {}
for i = 2, #ARGV, 3 do
  local key = ARGV[1] .. ARGV[i]
  local state = redis.call('HGET', key, 'state')
  if not state then
    redis.call('HSET', key, 'state', 'queued', 'target', ARGV[i + 1], 'recipient', ARGV[i + 2], 'attempts', 0)
    redis.call('RPUSH', KEYS[2], ARGV[i])
    redis.call('HINCRBY', KEYS[1], 'total', 1)
    state = 'queued'
  end
  out[#out + 1] = state
end
return out
"""

# KEYS: meta, publishing. Marks the dispatch finished and completes the announcement if it can.
_DISPATCHED = (
    _COMPLETE
    + """
redis.call('HSET', KEYS[1], 'dispatched', '1')
return complete(KEYS[1], KEYS[2])
"""
)

# KEYS: delivery. ARGV: resend allowed ("1": idempotent platform), now ms.
# queued (or sending, when resending is safe) -> sending. Returns {1, parts} or {0, state}.
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state') or 'queued'
if state == 'queued' or (state == 'sending' and ARGV[1] == '1') then
  redis.call('HSET', KEYS[1], 'state', 'sending', 'updated_at', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  return {1, redis.call('HGET', KEYS[1], 'parts') or '[]'}
end
return {0, state}
"""


class PublishJob(Wire):
    """One entry of a publish stream: which delivery, and the rendered post."""

    announcement_id: str
    delivery_id: str
    post: OutboundPost
    created_at: datetime = Field(default_factory=utcnow)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class DeliveryStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._record = client.register_script(_RECORD)
        self._enqueue = client.register_script(_ENQUEUE)
        self._dispatched = client.register_script(_DISPATCHED)
        self._claim = client.register_script(_CLAIM)

    async def enqueue(self, announcement_id: str, items: Sequence[tuple[str, str, str]]) -> list[str]:
        """Create missing records (delivery id, target key, recipient) as queued. Idempotent;
        returns each record's current state."""
        if not items:
            return []
        args: list[str] = [keys.announcement_delivery(announcement_id, "")]
        for delivery_id, target, recipient in items:
            args += [delivery_id, target, recipient]
        states = await self._enqueue(
            keys=[keys.announcement(announcement_id), keys.announcement_deliveries(announcement_id)], args=args
        )
        return [as_text(s) for s in states]

    async def mark_dispatched(self, announcement_id: str) -> str:
        """Every delivery exists: the announcement may complete. Returns its final state or ""."""
        return as_text(
            await self._dispatched(keys=[keys.announcement(announcement_id), keys.announcements_publishing()])
        )

    async def claim(self, announcement_id: str, delivery_id: str, resend_ok: bool) -> tuple[bool, str]:
        """queued → sending. Returns (True, posted parts json) for the caller that may post, or
        (False, current state)."""
        ok, value = await self._claim(
            keys=[keys.announcement_delivery(announcement_id, delivery_id)], args=["1" if resend_ok else "0", now_ms()]
        )
        return bool(int(ok)), as_text(value)

    async def record(
        self,
        announcement_id: str,
        delivery_id: str,
        state: DeliveryState,
        platform_ids: Sequence[str] = (),
        url: str | None = None,
        error: str | None = None,
    ) -> str:
        """Set a delivery's state (and counters). Returns the announcement's final state when
        this completed it, else ""."""
        return as_text(
            await self._record(
                keys=[
                    keys.announcement(announcement_id),
                    keys.announcements_publishing(),
                    keys.announcement_delivery(announcement_id, delivery_id),
                ],
                args=[state.value, json.dumps(list(platform_ids)), url or "", error or "", now_ms()],
            )
        )

    async def requeue(self, announcement_id: str, delivery_id: str) -> None:
        """Back to queued after a deferral or a transient failure (the parts posted stay)."""
        await self.client.hset(
            keys.announcement_delivery(announcement_id, delivery_id),  # type: ignore[misc]
            "state",
            DeliveryState.QUEUED.value,
        )

    async def record_part(self, announcement_id: str, delivery_id: str, parts: Sequence[str]) -> None:
        await self.client.hset(
            keys.announcement_delivery(announcement_id, delivery_id),  # type: ignore[misc]
            "parts",
            json.dumps(list(parts)),
        )

    async def states(self, announcement_id: str, delivery_ids: Sequence[str]) -> list[str]:
        async with self.client.pipeline(transaction=False) as pipe:
            for d in delivery_ids:
                pipe.hget(keys.announcement_delivery(announcement_id, d), "state")
            raw = await pipe.execute()
        return [as_text(s) or DeliveryState.QUEUED.value for s in raw]

    async def list(self, announcement_id: str, offset: int = 0, limit: int = 100) -> list[DeliveryRecord]:
        ids = [
            as_text(i)
            for i in await self.client.lrange(  # type: ignore[misc]
                keys.announcement_deliveries(announcement_id), offset, offset + limit - 1
            )
        ]
        async with self.client.pipeline(transaction=False) as pipe:
            for d in ids:
                pipe.hgetall(keys.announcement_delivery(announcement_id, d))
            raws = await pipe.execute()
        out = []
        for d, raw in zip(ids, raws, strict=True):
            h = {as_text(k): as_text(v) for k, v in raw.items()}
            updated = h.get("updated_at")
            out.append(
                DeliveryRecord(
                    delivery_id=d,
                    target=h.get("target", ""),
                    recipient=h.get("recipient") or None,
                    state=DeliveryState(h.get("state", "queued")),
                    platform_ids=tuple(json.loads(h.get("platform_ids") or h.get("parts") or "[]")),
                    url=h.get("url") or None,
                    attempts=int(h.get("attempts", 0)),
                    error=h.get("error") or None,
                    updated_at=datetime.fromtimestamp(int(updated) / 1000, UTC) if updated else None,
                )
            )
        return out
