"""Reading the record back: one conversation's history, a contact's full history across channels
and linked contacts, finding contacts to link, and restoring an evicted conversation into Redis when it is reopened."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import SQLAlchemyError

from helpline.routing import keys

from .contact_terms import query_term, upper_bound
from .database import Database, parse_url, reason
from .schema import contact_terms, contacts, conversations, events, messages, replies
from .search import Access, visible
from .snapshot import COLUMNS, TIMES

log = logging.getLogger(__name__)
_LISTED = [c for c in conversations.c if c.name not in ("document", "search", "fields", "last_event")]


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
        raw_messages = (
            (
                await conn.execute(
                    select(messages.c.raw).where(messages.c.conversation_id == conversation_id).order_by(messages.c.seq)
                )
            )
            .scalars()
            .all()
        )
        raw_events = (
            (
                await conn.execute(
                    select(events.c.raw).where(events.c.conversation_id == conversation_id).order_by(events.c.seq)
                )
            )
            .scalars()
            .all()
        )
    return History(dict(row._mapping), list(raw_messages), list(raw_events))


async def contact_history(
    db: Database, contact_ids: Sequence[str], access: Access, limit: int = 200
) -> list[dict[str, Any]]:
    """Every conversation of the contacts (one person on several channels) that `access` may
    see, newest first."""
    if not contact_ids:
        return []
    c = conversations.c
    stmt = (
        select(*_LISTED)
        .where(and_(c.contact_id.in_(list(contact_ids)), visible(access)))
        .order_by(c.updated_at.desc(), c.id.desc())
        .limit(limit)
    )
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


async def find_contacts(
    db: Database, query: str, access: Access, limit: int = 10, exclude: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Contacts whose id is `query`, then those with a term that begins with it
    (`contact_terms.py`: the handle with or without its @, the name or a word of it, the e-mail
    address, the platform user id; case does not matter), that, unless `access` sees everything,
    have a conversation in the record `access` may see; none of `exclude`. At most `limit`, exact
    terms first, then in term order. Reads the contact's key and a range of the terms' primary
    key, a page at a time, never the whole table."""
    low = query_term(query)
    if not low or limit <= 0:
        return []
    high = upper_bound(low)
    t = contact_terms.c
    c = conversations.c
    conditions = [t.term >= low, *([t.term < high] if high is not None else [])]
    if exclude:
        conditions.append(t.contact_id.not_in(list(exclude)))
    if not access.everything:
        conditions.append(exists().where(and_(c.contact_id == t.contact_id, visible(access))))
    page = max(limit * 4, 20)
    found: dict[str, None] = {}
    after: tuple[str, str] | None = None
    async with db.engine.connect() as conn:
        named = query.strip()
        if named and named not in exclude:
            whole = select(contacts.c.id).where(contacts.c.id == named)
            if not access.everything:
                whole = whole.where(exists().where(and_(c.contact_id == contacts.c.id, visible(access))))
            if (await conn.execute(whole)).first() is not None:
                found[named] = None
        while len(found) < limit:
            stmt = select(t.term, t.contact_id).where(*conditions)
            if after is not None:
                stmt = stmt.where(or_(t.term > after[0], and_(t.term == after[0], t.contact_id > after[1])))
            rows = (await conn.execute(stmt.order_by(t.term, t.contact_id).limit(page))).all()
            for row in rows:
                if row.term.startswith(low):  # the range is the prefix; this only guards the bound
                    found.setdefault(row.contact_id)
            if len(rows) < page:
                break
            after = (rows[-1].term, rows[-1].contact_id)
        ids = list(found)[:limit]
        if not ids:
            return []
        by_id = {r.id: dict(r._mapping) for r in await conn.execute(select(contacts).where(contacts.c.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


class AgentMemory:
    """The router's `recall`: a contact's last agent from the record, once the contact's Redis
    copy expired after eviction, so a returning customer still goes back to their agent. Never
    holds routing up: no answer within `timeout_s` (or no record) is "unknown"."""

    def __init__(self, url: str, timeout_s: float = 0.5) -> None:
        self.db = Database(url)
        self.timeout_s = timeout_s
        path = parse_url(url).database if self.db.is_sqlite else None
        self._file = Path(path) if path else None
        self._failing = False

    async def __call__(self, contact_id: str) -> str | None:
        if self._file is not None and not self._file.exists():
            return None  # no record yet (and opening it would create an empty file)
        try:
            async with asyncio.timeout(self.timeout_s):
                row = await contact(self.db, contact_id)
        except (TimeoutError, SQLAlchemyError, OSError) as exc:
            if not self._failing:
                log.warning(
                    "router: the record did not answer for a contact's last agent: %s", reason(exc, self.db.url)
                )
            self._failing = True
            return None
        self._failing = False
        return row["last_agent"] if row else None

    async def close(self) -> None:
        await self.db.close()


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

#: A conversation's hash fields that are the record's row columns.
_HASH_COLUMNS = (*COLUMNS, *TIMES, "message_count")


@dataclass
class Stored:
    """A conversation as the record holds it, in Redis's shapes: what `restore` puts back."""

    fields: dict[str, str]  # the hash, `version` the record's rev
    messages: list[tuple[int, str]]  # (history score, message JSON)
    events: list[str]  # event JSON, in order
    deliveries: dict[str, dict[str, str]]  # reply id → its delivery record
    thread: str  # "platform:account:thread key"


async def stored(db: Database, conversation_id: str) -> Stored | None:
    """The conversation as the record holds it (None: the record does not)."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == conversation_id))).first()
        if row is None:
            return None
        ms = (
            await conn.execute(
                select(messages.c.seq, messages.c.raw)
                .where(messages.c.conversation_id == conversation_id)
                .order_by(messages.c.seq)
            )
        ).all()
        evs = (
            (
                await conn.execute(
                    select(events.c.raw).where(events.c.conversation_id == conversation_id).order_by(events.c.seq)
                )
            )
            .scalars()
            .all()
        )
        rs = (await conn.execute(select(replies).where(replies.c.conversation_id == conversation_id))).all()
    conv = row._mapping
    fields = {name: "" if conv[name] is None else str(conv[name]) for name in _HASH_COLUMNS}
    fields.update(json.loads(conv["fields"]))
    fields["id"] = conversation_id
    fields["version"] = str(conv["rev"])
    deliveries = {
        r.reply_id: {
            "state": r.state,
            "platform_ids": r.platform_ids,
            "error": r.error,
            "updated_at": str(r.updated_at),
        }
        for r in rs
    }
    return Stored(
        fields,
        [(int(seq), raw) for seq, raw in ms],
        list(evs),
        deliveries,
        f"{conv['platform']}:{conv['account']}:{conv['thread_key']}",
    )


async def restore(client: redis.Redis, db: Database, conversation_id: str) -> bool:
    """Put an evicted conversation back into Redis from the record (to reopen it). Idempotent;
    False if the record does not have it or Redis still does."""
    if await client.exists(keys.conversation(conversation_id)):
        return False
    found = await stored(db, conversation_id)
    if found is None:
        return False
    script = client.register_script(_RESTORE)
    done = await script(
        keys=[keys.partition_prefix(keys.conversation_partition(conversation_id))],
        args=[
            conversation_id,
            found.thread,
            json.dumps(found.fields),
            json.dumps([[str(s), raw] for s, raw in found.messages]),
            json.dumps(found.events),
            json.dumps(found.deliveries),
        ],
    )
    return bool(done)
