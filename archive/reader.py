"""Reading the record back: one conversation's history, a contact's full history across channels
and linked contacts, and restoring an evicted conversation into Redis when it is reopened."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from sqlalchemy import and_, select

from helpline.routing import keys

from .database import Database
from .schema import contacts, conversations, events, messages, replies
from .search import Access, visible

_LISTED = [c for c in conversations.c if c.name not in ("document", "search", "fields")]


@dataclass
class History:
    conversation: dict[str, Any]
    messages: list[str]  # message JSON, oldest first
    events: list[str]  # event JSON, in order


async def conversation(db: Database, conversation_id: str) -> dict[str, Any] | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == conversation_id))).first()
    return dict(row._mapping) if row else None


async def history(db: Database, conversation_id: str) -> History | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == conversation_id))).first()
        if row is None:
            return None
        raw_messages = (await conn.execute(select(messages.c.raw).where(messages.c.conversation_id == conversation_id)
                                           .order_by(messages.c.seq))).scalars().all()
        raw_events = (await conn.execute(select(events.c.raw).where(events.c.conversation_id == conversation_id)
                                         .order_by(events.c.seq))).scalars().all()
    return History(dict(row._mapping), list(raw_messages), list(raw_events))


async def contact_history(db: Database, contact_ids: Sequence[str], access: Access,
                          limit: int = 200) -> list[dict[str, Any]]:
    """Every conversation of the contacts (one person on several channels) that `access` may
    see, newest first."""
    if not contact_ids:
        return []
    c = conversations.c
    stmt = (select(*_LISTED).where(and_(c.contact_id.in_(list(contact_ids)), visible(access)))
            .order_by(c.updated_at.desc(), c.id.desc()).limit(limit))
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def replies_of(db: Database, conversation_id: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(replies).where(replies.c.conversation_id == conversation_id))).all()
    return [dict(r._mapping) for r in rows]


async def contact(db: Database, contact_id: str) -> dict[str, Any] | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(contacts).where(contacts.c.id == contact_id))).first()
    return dict(row._mapping) if row else None


# KEYS[1] partition prefix. ARGV: conversation id, its thread key suffix ("platform:account:key"),
# the hash as JSON, the messages as JSON [[score, raw], ...], the events as JSON [raw, ...], the
# delivery records as JSON {reply id: {field: value}}. Writes nothing if the conversation is in
# Redis already (restoring twice is restoring once); the thread is pointed back at it unless a
# newer conversation has the thread.
_RESTORE = """
local c = KEYS[1] .. ':conv:' .. ARGV[1]
if redis.call('EXISTS', c) == 1 then return 0 end
local h = cjson.decode(ARGV[3])
local flat = {}
for k, v in pairs(h) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', c, unpack(flat))
for _, m in ipairs(cjson.decode(ARGV[4])) do redis.call('ZADD', c .. ':messages', m[1], m[2]) end
for _, e in ipairs(cjson.decode(ARGV[5])) do redis.call('RPUSH', c .. ':events', e) end
for reply_id, record in pairs(cjson.decode(ARGV[6])) do
  local rflat = {}
  for k, v in pairs(record) do rflat[#rflat + 1] = k; rflat[#rflat + 1] = v end
  redis.call('HSET', KEYS[1] .. ':reply:' .. reply_id, unpack(rflat))
end
redis.call('SET', KEYS[1] .. ':thread:' .. ARGV[2], ARGV[1], 'NX')
redis.call('ZADD', KEYS[1] .. ':idx:updated', h['updated_at'], ARGV[1])
return 1
"""

_HASH_COLUMNS = ("platform", "account", "kind", "thread_key", "contact_id", "status", "priority", "team", "assignee",
                 "handler", "labels", "language", "created_at", "updated_at", "first_response_at", "resolved_at",
                 "message_count")


async def restore(client: redis.Redis, db: Database, conversation_id: str) -> bool:
    """Put an evicted conversation back into Redis from the record (to reopen it). Idempotent;
    False if the record does not have it or Redis still does."""
    if await client.exists(keys.conversation(conversation_id)):
        return False
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == conversation_id))).first()
        if row is None:
            return False
        ms = (await conn.execute(select(messages.c.seq, messages.c.raw)
                                 .where(messages.c.conversation_id == conversation_id))).all()
        evs = (await conn.execute(select(events.c.raw).where(events.c.conversation_id == conversation_id)
                                  .order_by(events.c.seq))).scalars().all()
        rs = (await conn.execute(select(replies).where(replies.c.conversation_id == conversation_id))).all()
    conv = row._mapping
    fields = {name: "" if conv[name] is None else str(conv[name]) for name in _HASH_COLUMNS}
    fields.update(json.loads(conv["fields"]))
    fields["id"] = conversation_id
    fields["version"] = str(conv["rev"])
    deliveries = {r.reply_id: {"state": r.state, "platform_ids": r.platform_ids, "error": r.error,
                               "updated_at": str(r.updated_at)} for r in rs}
    thread = f"{conv['platform']}:{conv['account']}:{conv['thread_key']}"
    script = client.register_script(_RESTORE)
    done = await script(keys=[keys.partition_prefix(keys.conversation_partition(conversation_id))],
                        args=[conversation_id, thread, json.dumps(fields), json.dumps([[str(s), raw] for s, raw in ms]),
                              json.dumps(list(evs)), json.dumps(deliveries)])
    return bool(done)
