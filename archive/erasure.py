"""Erasure: a person's messages and identifiers removed from Redis and the record, on request
(privacy law). What remains is an audit row without content: the sha256 of the contact id, when,
who asked, why, and how much was removed. An open conversation is refused unless forced: erasing
it would pull it away from the agent working on it.

Every conversation of the contact goes: its messages, events, notes, replies and delivery
records, the example phrasings taken from it (`bots.examples`), and the contact itself with its
links. Run it with the archiver running or not: the
archiver never writes a conversation that is gone from Redis, and a batch it read before the
erasure is deleted again inside its own transaction (`Record._drop_erased`), so the erasure wins.

Redis restored from a snapshot older than the erasure brings the person's conversations and
contact back into Redis. The archiver erases them from Redis again (`erase_from_redis`, what the
erase command runs): those a batch names (dropped from it by `Record._drop_erased`), and those
nothing changes again, found when it compares Redis with the record at its start
(`rewind.sweep`), and a contact none of whose conversations Redis holds
(`erased_contacts_in_redis`). A conversation is the person's again when it was created before their
latest erasure (the audit row's subject is `record.subject_of` their contact id).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import redis.asyncio as redis
from sqlalchemy import delete, func, insert, select

from helpline.bots.examples import ExampleStore
from helpline.routing import keys
from helpline.routing.assignment import AssignmentStore
from helpline.routing.decode import as_text

from . import contact_terms
from .database import Database
from .errors import ErasureRefused
from .record import Dropped, delete_rows, erased_at, lock_against_erasure, subject_of
from .schema import contacts, conversations, erasures, messages

# KEYS[1] partition prefix. ARGV: conversation ids. Deletes each conversation with its messages,
# events, delivery records (the reply ids its events name), SLA markers and thread pointer.
_ERASE = """
local prefix = KEYS[1]
for _, conv in ipairs(ARGV) do
  local c = prefix .. ':conv:' .. conv
  local h = redis.call('HMGET', c, 'platform', 'account', 'thread_key', 'once_markers')
  local doomed = {c, c .. ':messages', c .. ':events'}
  for _, raw in ipairs(redis.call('LRANGE', c .. ':events', 0, -1)) do
    local ok, e = pcall(cjson.decode, raw)
    if ok and e['data'] and type(e['data']['reply_id']) == 'string' then
      doomed[#doomed + 1] = prefix .. ':reply:' .. e['data']['reply_id']
    end
  end
  if h[4] and h[4] ~= '' then
    for marker in string.gmatch(h[4], '[^,]+') do doomed[#doomed + 1] = c .. ':' .. marker end
  end
  redis.call('DEL', unpack(doomed))
  if h[1] then
    local thread = prefix .. ':thread:' .. h[1] .. ':' .. h[2] .. ':' .. h[3]
    if redis.call('GET', thread) == conv then redis.call('DEL', thread) end
  end
  redis.call('ZREM', prefix .. ':idx:updated', conv)
end
return #ARGV
"""


@dataclass(frozen=True)
class Erased:
    subject: str  # sha256 of the contact id (what the audit row keeps)
    conversations: int
    messages: int


async def delete_conversations(client: redis.Redis, conversation_ids: Sequence[str]) -> None:
    """Delete conversations from Redis with everything of theirs in their partition (idempotent)."""
    by_partition: dict[int, list[str]] = {}
    for cid in conversation_ids:
        by_partition.setdefault(keys.conversation_partition(cid), []).append(cid)
    script = client.register_script(_ERASE)
    for p, ids in by_partition.items():
        for start in range(0, len(ids), 1000):
            await script(keys=[keys.partition_prefix(p)], args=ids[start : start + 1000])


async def erase_from_redis(client: redis.Redis, contact_id: str, conversation_ids: Sequence[str]) -> None:
    """Remove the contact and these conversations of theirs from Redis: the conversations with
    everything of theirs (`delete_conversations`), the example phrasings taken from them, their
    insights state and assignment (a forced erasure frees an agent's slot too), and the contact
    with its links and private-move marker. Idempotent. The erase command runs it, and the
    archiver again for what Redis restored from an older snapshot brings back (`erased_in_redis`)."""
    ids = list(conversation_ids)
    await delete_conversations(client, ids)
    await ExampleStore(client).forget_conversations(ids)
    linked = [as_text(x) for x in await client.smembers(keys.console_contact_links(contact_id))]  # type: ignore[misc]
    async with client.pipeline(transaction=False) as pipe:
        pipe.delete(keys.contact(contact_id), keys.console_contact_links(contact_id), keys.private_move(contact_id))
        for other in linked:
            pipe.srem(keys.console_contact_links(other), contact_id)
        for cid in ids:
            pipe.delete(keys.insights_state(cid), keys.insights_rating(cid))
        await pipe.execute()
    assignments = AssignmentStore(client)
    for cid in ids:
        await assignments.release(cid)


async def erased_in_redis(client: redis.Redis, found: Sequence[Dropped]) -> dict[str, list[str]]:
    """Contact id -> those of the conversations found erased (`Dropped`) that Redis still holds
    as theirs, created when found (Redis restored from a snapshot older than the erasure; not
    another conversation given the id since)."""
    out: dict[str, list[str]] = {}
    for start in range(0, len(found), 500):
        chunk = found[start : start + 500]
        async with client.pipeline(transaction=False) as pipe:
            for d in chunk:
                pipe.hmget(keys.conversation(d.conversation_id), ["contact_id", "created_at"])
            rows = await pipe.execute()
        for d, (owner, created_at) in zip(chunk, rows, strict=True):
            if owner is not None and as_text(owner) == d.contact_id and int(created_at or 0) == d.created_at:
                out.setdefault(d.contact_id, []).append(d.conversation_id)
    return out


async def erased_contacts_in_redis(client: redis.Redis, db: Database, partitions: int) -> list[str]:
    """Contacts Redis holds of erased people with none of their conversations left in Redis: a
    snapshot older than the erasure, taken after their conversations had left Redis, brings back
    the contact alone, which no conversation leads to. A person who wrote again since the erasure
    has a conversation in Redis and keeps their contact (those the snapshot brought back with
    their older conversations go with them: `erased_in_redis`). Reads every contact key: run when
    Redis is compared with the record, not per batch."""
    prefix = keys.contact("")
    held = [as_text(key)[len(prefix) :] async for key in client.scan_iter(match=keys.contact("*"), count=1000)]
    erased: list[str] = []
    for start in range(0, len(held), 500):
        async with db.engine.connect() as conn:
            erased += list(await erased_at(conn, held[start : start + 500]))
    if not erased:
        return []
    owners = {owner async for _, owner, _ in _conversations_in_redis(client, partitions)}
    return [contact for contact in erased if contact not in owners]


async def delete_from_record(db: Database, conversation_ids: Sequence[str]) -> None:
    """Delete conversations from the record with their messages, events, replies and search rows."""
    async with db.engine.begin() as conn:
        await delete_rows(conn, db.is_sqlite, conversation_ids)


async def _conversations_in_redis(client: redis.Redis, partitions: int) -> AsyncIterator[tuple[str, str, str]]:
    """(conversation id, contact id, status) of every conversation Redis holds (a full scan of the
    inbox indexes: erasure is rare, and Redis keeps no index by contact)."""
    for p in range(partitions):
        ids = [as_text(cid) async for cid, _ in client.zscan_iter(keys.conversations_by_update(p))]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            async with client.pipeline(transaction=False) as pipe:
                for cid in chunk:
                    pipe.hmget(keys.conversation(cid), ["contact_id", "status"])
                rows = await pipe.execute()
            for cid, (owner, status) in zip(chunk, rows, strict=True):
                if owner is not None:
                    yield cid, as_text(owner), as_text(status or b"")


async def redis_conversations(client: redis.Redis, partitions: int, contact_id: str) -> dict[str, str]:
    """Conversation id -> status of the contact's conversations still in Redis."""
    found = _conversations_in_redis(client, partitions)
    return {cid: status async for cid, owner, status in found if owner == contact_id}


async def erase_contact(
    client: redis.Redis,
    db: Database,
    partitions: int,
    contact_id: str,
    operator: str,
    reason: str = "",
    force: bool = False,
) -> Erased:
    """Remove the contact everywhere; idempotent (a second erasure finds nothing and says so)."""
    live = await redis_conversations(client, partitions, contact_id)
    async with db.engine.connect() as conn:
        archived = {
            r.id: r.status
            for r in (
                await conn.execute(
                    select(conversations.c.id, conversations.c.status).where(conversations.c.contact_id == contact_id)
                )
            )
        }
    statuses = {**archived, **live}  # Redis is newer where both have it
    still_open = sorted(cid for cid, status in statuses.items() if status != "resolved")
    if still_open and not force:
        raise ErasureRefused(
            f"contact {contact_id!r} has open conversations ({', '.join(still_open)}): "
            "resolve them first or force the erasure"
        )
    async with client.pipeline(transaction=False) as pipe:
        for cid in live:
            pipe.zcard(keys.messages(cid))
        in_redis = dict(zip(live, map(int, await pipe.execute()), strict=True))
    ids = list(statuses)
    await erase_from_redis(client, contact_id, ids)
    subject = subject_of(contact_id)
    async with db.engine.connect() as conn:
        counted = await conn.execute(
            select(messages.c.conversation_id, func.count())
            .where(messages.c.conversation_id.in_(ids))
            .group_by(messages.c.conversation_id)
        )
        in_sql: dict[str, int] = {row[0]: int(row[1]) for row in counted}
    removed = sum(max(in_sql.get(cid, 0), in_redis.get(cid, 0)) for cid in ids)
    async with db.engine.begin() as conn:  # the audit row and the deletes together: see Record._drop_erased
        await lock_against_erasure(conn, exclusive=True)
        await conn.execute(
            insert(erasures).values(
                subject=subject,
                erased_at=int(time.time() * 1000),
                operator=operator,
                reason=reason,
                conversations=len(ids),
                messages=removed,
                forced=bool(still_open),
            )
        )
        await delete_rows(conn, db.is_sqlite, ids)
        await conn.execute(delete(contacts).where(contacts.c.id == contact_id))
        await contact_terms.rewrite(conn, [contact_id])  # nothing left to find them by
    return Erased(subject, len(ids), removed)
