"""Reading what changed from Redis and turning it into the record's rows.

A conversation is read in one MULTI (hash, the messages after the archived ones, the events after
the archived ones), so the rows written carry exactly the `version` they were read at.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.pipelined import execute

from .record import Batch, Collision, Cursor, Record, Rewound, Row
from .schema import conversation_num
from .tokens import document

COLUMNS = (
    "platform",
    "account",
    "kind",
    "thread_key",
    "contact_id",
    "status",
    "priority",
    "team",
    "assignee",
    "handler",
    "labels",
    "language",
)
TIMES = ("created_at", "updated_at", "first_response_at", "resolved_at")
_OWN = {"id", "version", "message_count", *COLUMNS, *TIMES}
_NONE = Cursor(0, 0, 0, -1, 0, "")  # never archived (a Redis version starts at 1)
UNCHANGED = b"="
REWOUND = b"<"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def event_digest(raw: bytes | str) -> str:
    """What the record keeps of its last archived event (`conversations.last_event`): the sha1
    Redis's scripts compute with `redis.sha1hex`."""
    return hashlib.sha1(raw if isinstance(raw, bytes) else raw.encode(), usedforsecurity=False).hexdigest()


def _int(value: str | None) -> int | None:
    return int(value) if value else None


# KEYS[1] partition prefix, KEYS[2] its change stream. ARGV: per conversation its id, the highest
# history score archived, the events archived, the messages archived, the version archived and the
# sha1 of the last event archived ("": none known). Returns the stream's last entry id and per conversation
# {hash (flat), message count, messages after the archived ones (flat, with scores), events after
# the archived ones}; all of it when a message landed behind the archived score; {UNCHANGED, its
# contact id, its created_at} when the record holds its version already (a change named again: a replay, or a
# backlog naming it once per change), so it is not written again; {REWOUND, its contact id, its
# created_at, its version} when Redis holds it at an older state than the record: a version below
# the record's, or at the place of the last event archived none or another one (Redis restored
# from an older snapshot: events are only ever appended, so on one line of history the archived
# ones are a prefix of Redis's). One atomic read: the rows carry exactly the `version` they were
# read at, and every change entry up to the stream's last id, returned first, is in them
# (`covered.py`).
_READ = """
local prefix = KEYS[1]
local out = {}
-- Whether Redis's events part from the record's: at the place of the last one archived, none or
-- another (`e`: the event there; an old row without its digest compares the count).
local function parted(c, e, archived, last)
  if archived == 0 then return false end
  if last == '' then return redis.call('LLEN', c .. ':events') < archived end
  return not e or redis.sha1hex(e) ~= last
end
for i = 1, #ARGV, 6 do
  local c = prefix .. ':conv:' .. ARGV[i]
  local version = redis.call('HGET', c, 'version')
  local rev, archived, last = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 2]), ARGV[i + 5]
  local behind = version and rev > 0 and tonumber(version) < rev
  local events
  if version and rev > 0 and not behind and archived > 0 then
    -- the last archived event and those after it: one command where a change is read
    events = redis.call('LRANGE', c .. ':events', archived - 1, -1)
    behind = parted(c, events[1], archived, last)
    table.remove(events, 1)
  end
  if behind then
    local who = redis.call('HMGET', c, 'contact_id', 'created_at')
    out[#out + 1] = {'<', who[1], who[2], version}
  elseif version == ARGV[i + 4] then
    local who = redis.call('HMGET', c, 'contact_id', 'created_at')
    out[#out + 1] = {'=', who[1], who[2]}
  else
    local h = redis.call('HGETALL', c)
    if #h == 0 then
      out[#out + 1] = {h}
    else
      local count = redis.call('ZCARD', c .. ':messages')
      local new = redis.call('ZRANGEBYSCORE', c .. ':messages', '(' .. ARGV[i + 1], '+inf', 'WITHSCORES')
      if tonumber(ARGV[i + 3]) + #new / 2 < count then
        new = redis.call('ZRANGE', c .. ':messages', 0, -1, 'WITHSCORES')
      end
      out[#out + 1] = {h, count, new, events or redis.call('LRANGE', c .. ':events', archived, -1)}
    end
  end
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
return {last and last[1] or '0-0', out}
"""
# KEYS[1] partition prefix. ARGV: reply ids. Returns each one's delivery fields (false: none).
_DELIVERIES = """
local out = {}
for i, reply_id in ipairs(ARGV) do
  out[i] = redis.call('HMGET', KEYS[1] .. ':reply:' .. reply_id, 'state', 'platform_ids', 'error', 'updated_at')
end
return out
"""
_CONTACT = ["platform", "account", "user_id", "handle", "display_name", "language", "last_agent", "email"]
CHUNK = 500  # conversations or replies per script call: short calls, Redis stays responsive


async def read_changes(
    client: redis.Redis,
    record: Record,
    conversation_ids: Iterable[str],
    reply_ids: Iterable[tuple[int, str]],
) -> Batch:
    """The rows for the given conversations (beyond what the record holds of them) and replies.
    A few calls per partition, not per key: the archiver keeps up with the pipeline."""
    batch = Batch()
    ids = list(dict.fromkeys(conversation_ids))
    cursors = await record.cursors(ids)
    by_partition: dict[int, list[str]] = {}
    for cid in ids:
        by_partition.setdefault(keys.conversation_partition(cid), []).append(cid)
    replies = dict.fromkeys(reply_ids)
    contacts: set[str] = set()
    read = client.register_script(_READ)
    chunks = [
        (p, part[start : start + CHUNK]) for p, part in by_partition.items() for start in range(0, len(part), CHUNK)
    ]
    async with client.pipeline(transaction=False) as pipe:
        for p, chunk in chunks:
            args: list[str | int] = []
            for cid in chunk:
                cursor = cursors.get(cid, _NONE)
                args += [
                    cid,
                    cursor.last_score,
                    cursor.archived_events,
                    cursor.archived_messages,
                    cursor.rev,
                    cursor.last_event,
                ]
            await read(keys=[keys.partition_prefix(p), keys.changes(p)], args=args, client=pipe)
        results = await execute(client, pipe) if chunks else []
    changed: list[tuple[str, dict[str, str], list[Any]]] = []
    for (p, chunk), (last_entry, found) in zip(chunks, results, strict=True):
        read_at = (p, as_text(last_entry))
        for cid, item in zip(chunk, found, strict=True):
            if item[0] in (UNCHANGED, REWOUND):  # its contact is still read: a contact changes without a new version
                h = {"contact_id": as_text(item[1] or b""), "created_at": as_text(item[2] or b"")}
            else:
                if not item[0]:
                    continue  # evicted or erased since the change: nothing of it to archive
                flat = item[0]
                h = dict(zip(map(bytes.decode, flat[::2]), map(bytes.decode, flat[1::2]), strict=True))
                if "platform" not in h:
                    continue
            collision = _collision(cid, cursors.get(cid, _NONE), h)
            if collision:
                batch.collisions.append(collision)
                continue
            if item[0] == REWOUND:  # the record's is newer: not written back (`rewind.py`)
                batch.rewound.append(Rewound(cid, int(item[3]), cursors[cid].rev))
                continue
            if item[0] != UNCHANGED:
                changed.append((cid, h, item))
            contacts.add(h["contact_id"])
            batch.read_at[cid] = read_at
    documents = await record.documents([cid for cid, _, _ in changed if cid in cursors])
    for cid, h, item in changed:
        cursor = cursors.get(cid, _NONE)
        _conversation(batch, cid, h, int(item[1]), item[2], item[3], cursor, documents.get(cid, ""), replies)
    if batch.collisions or batch.rewound:  # nor the delivery states of their replies (ids begin with theirs)
        left = {c.conversation_id for c in batch.collisions} | {c.conversation_id for c in batch.rewound}
        replies = {r: None for r in replies if r[1].partition(":")[0] not in left}
    await _contacts_and_deliveries(client, batch, contacts, replies)
    return batch


def _collision(cid: str, cursor: Cursor, h: Mapping[str, str]) -> Collision | None:
    """Whether the conversation Redis has under this id is another than the record's: created at
    another time or by another contact (neither ever changes for a conversation)."""
    if cursor is _NONE:
        return None
    created = int(h.get("created_at") or 0)
    contact = h.get("contact_id") or ""
    if (cursor.created_at and created and cursor.created_at != created) or (
        cursor.contact_id and contact and cursor.contact_id != contact
    ):
        return Collision(cid, (cursor.created_at, cursor.contact_id), (created, contact))
    return None


def _conversation(
    batch: Batch,
    cid: str,
    h: dict[str, str],
    count: int,
    new_messages: list[bytes],
    new_events: list[bytes],
    cursor: Cursor,
    archived_document: str,
    replies: dict[tuple[int, str], None],
) -> None:
    texts: list[str] = []
    last_score = cursor.last_score
    if cursor.archived_messages and count and len(new_messages) // 2 == count:
        batch.reread.add(cid)  # all of its history came again: messages split off earlier among them
    for k in range(0, len(new_messages), 2):  # member, score, member, score, ...
        raw = new_messages[k]
        m = orjson.loads(raw)
        author = m.get("author") or {}
        seq = int(float(new_messages[k + 1]))
        last_score = max(last_score, seq)
        batch.messages.append(
            {
                "conversation_id": cid,
                "seq": seq,
                "message_id": m["message_id"],
                "author_id": author.get("user_id", ""),
                "author_handle": author.get("handle", ""),
                "author_name": author.get("display_name", ""),
                "text": m.get("text", ""),
                "language": m.get("language"),
                "at": _ms(m["platform_time"]),
                "raw": raw.decode(),
            }
        )
        texts += (m.get("text", ""), author.get("handle", ""), author.get("display_name", ""))
    partition = keys.conversation_partition(cid)
    for offset, raw in enumerate(new_events):
        e = orjson.loads(raw)
        data = e.get("data") or {}
        batch.events.append(
            {
                "conversation_id": cid,
                "seq": cursor.archived_events + offset,
                "type": e["type"],
                "actor": e.get("actor", ""),
                "at": _ms(e["at"]),
                "raw": raw.decode(),
            }
        )
        if e["type"] == "linked" and isinstance(data.get("moved_messages"), list):
            batch.moves.setdefault(cid, set()).update(str(m) for m in data["moved_messages"])
        if e["type"] in ("reply_queued", "note") and isinstance(data.get("text"), str):
            texts.append(data["text"])
        if e["type"] == "reply_queued" and data.get("reply_id"):
            batch.reply_contents.append(
                {
                    "reply_id": str(data["reply_id"]),
                    "conversation_id": cid,
                    "sender": e.get("actor", ""),
                    "text": str(data.get("text") or ""),
                    "private": bool(data.get("private")),
                    "created_at": _ms(e["at"]),
                }
            )
            replies[(partition, str(data["reply_id"]))] = None
    labels = h.get("labels") or "[]"
    texts += orjson.loads(labels)
    batch.conversations.append(
        {
            "id": cid,
            "num": conversation_num(cid),
            "rev": int(h.get("version") or 0),
            "message_count": int(h.get("message_count") or 0),
            **{name: h.get(name) or None for name in COLUMNS},
            "labels": labels,
            "priority": h.get("priority") or "normal",
            "status": h.get("status") or "open",
            **{name: _int(h.get(name)) for name in TIMES},
            "archived_events": cursor.archived_events + len(new_events),
            "archived_messages": count,
            "last_score": last_score,
            "last_event": event_digest(new_events[-1]) if new_events else cursor.last_event,
            "fields": orjson.dumps({k: v for k, v in h.items() if k not in _OWN}).decode(),
            "document": document(texts, archived_document),
        }
    )
    conv = batch.conversations[-1]
    conv["created_at"] = conv["created_at"] or 0
    conv["updated_at"] = conv["updated_at"] or conv["created_at"]


async def _contacts_and_deliveries(
    client: redis.Redis, batch: Batch, contacts: set[str], replies: dict[tuple[int, str], None]
) -> None:
    contact_ids = list(contacts)
    by_partition: dict[int, list[str]] = {}
    for partition, reply_id in replies:
        by_partition.setdefault(partition, []).append(reply_id)
    chunks = [(p, ids[start : start + CHUNK]) for p, ids in by_partition.items() for start in range(0, len(ids), CHUNK)]
    deliveries = client.register_script(_DELIVERIES)
    async with client.pipeline(transaction=False) as pipe:
        for contact in contact_ids:
            pipe.hmget(keys.contact(contact), _CONTACT)
        for p, ids in chunks:
            await deliveries(keys=[keys.partition_prefix(p)], args=ids, client=pipe)
        raw = await execute(client, pipe) if contact_ids or chunks else []
    found: dict[str, Row] = {}
    for contact, values in zip(contact_ids, raw, strict=False):
        h = {name: as_text(v) for name, v in zip(_CONTACT, values, strict=True) if v is not None}
        if h.get("platform"):
            found[contact] = {
                "id": contact,
                "platform": h["platform"],
                "account": h.get("account", ""),
                "user_id": h.get("user_id", ""),
                "handle": h.get("handle", ""),
                "display_name": h.get("display_name", ""),
                "language": h.get("language") or None,
                "last_agent": h.get("last_agent") or None,
                "email": h.get("email") or None,
            }
    batch.contacts.extend(found.values())
    for (_, ids), records in zip(chunks, raw[len(contact_ids) :], strict=True):
        for reply_id, (state, platform_ids, error, updated_at) in zip(ids, records, strict=True):
            if state is not None:
                batch.reply_deliveries.append(
                    {
                        "reply_id": reply_id,
                        "state": as_text(state),
                        "platform_ids": as_text(platform_ids or b"[]"),
                        "error": as_text(error or b""),
                        "updated_at": int(updated_at or 0),
                    }
                )
    for conv in batch.conversations:  # the contact's name and handle are found by search too
        person = found.get(conv["contact_id"])
        if person:
            conv["document"] = document((person["handle"], person["display_name"]), conv["document"])
