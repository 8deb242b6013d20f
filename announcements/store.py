"""Announcements in Redis: one hash per announcement (document, state, version, counters).

Writes are compare-and-set on the version (one Lua call also keeps the due-time index right),
so two supervisors approving at once, or an edit racing the scheduler, cannot both win: the loser
gets `Conflict` and reloads. The state lives in its own field (not in the document) so the
scheduler and the publisher can move it without rewriting the document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import utcnow

from .errors import Conflict, NotFound
from .models import Announcement, State

# KEYS: meta, due, index. ARGV: expected version, doc, state, due ms ("" = not due), created ms.
_SAVE = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'state', ARGV[3], 'version', version + 1)
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], KEYS[1]) else redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1]) end
redis.call('ZADD', KEYS[3], 'NX', ARGV[5], KEYS[1])
return version + 1
"""

# KEYS: meta, due, publishing. ARGV: now ms. scheduled and due -> publishing (once).
_START = """
if redis.call('HGET', KEYS[1], 'state') ~= 'scheduled' then
  redis.call('ZREM', KEYS[2], KEYS[1])
  return 0
end
local due = redis.call('ZSCORE', KEYS[2], KEYS[1])
if due and tonumber(due) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'publishing', 'started_at', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('SADD', KEYS[3], KEYS[1])
return 1
"""


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def id_of(meta_key: str) -> str:
    """Announcement id from its key (the indexes hold keys, which Lua can use directly)."""
    return meta_key.rsplit(":", 1)[1]


@dataclass(frozen=True)
class Progress:
    """Delivery counters of an announcement being (or done) publishing."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    dispatched: bool = False
    first_url: str | None = None

    @property
    def pending(self) -> int:
        return max(0, self.total - self.sent - self.failed - self.uncertain)


class AnnouncementStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._save = client.register_script(_SAVE)
        self._start = client.register_script(_START)

    async def new_id(self) -> str:
        return f"a{int(await self.client.incr(keys.announcement_seq()))}"

    async def save(self, announcement: Announcement) -> Announcement:
        """Write if nobody changed it since it was read (`announcement.version`); else Conflict."""
        doc = announcement.model_dump_json(exclude={"state", "version"})
        due = ""
        if announcement.state is State.SCHEDULED:
            due = str(_ms(announcement.publish_at or utcnow()))
        version = int(
            await self._save(
                keys=[keys.announcement(announcement.id), keys.announcements_due(), keys.announcements_index()],
                args=[announcement.version, doc, announcement.state.value, due, _ms(announcement.created_at)],
            )
        )
        if version < 0:
            raise Conflict(f"announcement {announcement.id} was changed by someone else; reload it")
        return announcement.model_copy(update={"version": version})

    async def get(self, announcement_id: str) -> Announcement:
        raw = await self.client.hmget(keys.announcement(announcement_id), ["doc", "state", "version"])  # type: ignore[misc]
        if raw[0] is None:
            raise NotFound(f"no announcement {announcement_id!r}")
        data = json.loads(raw[0])
        data.update(state=as_text(raw[1]), version=int(raw[2]))
        return Announcement.model_validate(data)

    async def recent(self, limit: int = 50, states: Sequence[State] = ()) -> list[Announcement]:
        """Newest first."""
        found: list[Announcement] = []
        start = 0
        while len(found) < limit:
            ids = await self.client.zrevrange(keys.announcements_index(), start, start + 199)
            if not ids:
                break
            start += len(ids)
            for meta in ids:
                a = await self.get(id_of(as_text(meta)))
                if not states or a.state in states:
                    found.append(a)
        return found[:limit]

    async def progress(self, announcement_id: str) -> Progress:
        raw = await self.client.hmget(
            keys.announcement(announcement_id),  # type: ignore[misc]
            ["total", "n_sent", "n_failed", "n_uncertain", "dispatched", "first_url"],
        )
        n = [int(v or 0) for v in raw[:4]]
        return Progress(
            n[0], n[1], n[2], n[3], raw[4] is not None and as_text(raw[4]) == "1", as_text(raw[5]) if raw[5] else None
        )

    # scheduling --------------------------------------------------------------------------------
    async def due(self, now: datetime, limit: int = 100) -> list[str]:
        ids = await self.client.zrangebyscore(keys.announcements_due(), "-inf", _ms(now), start=0, num=limit)
        return [id_of(as_text(i)) for i in ids]

    async def start_publishing(self, announcement_id: str, now: datetime) -> bool:
        """scheduled → publishing if due. Idempotent: True only for the caller that moved it."""
        return bool(
            await self._start(
                keys=[keys.announcement(announcement_id), keys.announcements_due(), keys.announcements_publishing()],
                args=[_ms(now)],
            )
        )

    async def publishing(self) -> list[str]:
        return sorted(id_of(as_text(m)) for m in await self.client.smembers(keys.announcements_publishing()))  # type: ignore[misc]
