"""Redis restored from a snapshot older than the record: the record's state is the newer truth,
and Redis is brought forward to it.

The archiver finds such a conversation when it reads it (`record.Rewound`: a version below the
record's rev, or fewer events than the record archived) and writes nothing of it. Instead Redis
gets the record's state, read as a reopened conversation's is (`reader.stored`), merged with what
happened in Redis since the restore:

- the hash: the record's fields, at a version above both Redis's and the record's (so the
  changes that follow are archived as usual); the message count counted again, the later
  `updated_at` kept, and the status Redis has if the customer wrote since the restore (that
  message is still to answer);
- events: the record's, then those Redis appended after the point where the two lists differ
  (where the snapshot was taken): an archived event keeps its position (its `seq` in the record),
  one made since the restore takes the next;
- messages: the record's and those Redis received since the restore. A message the record holds
  already (delivered again: the platforms' cursors and the ingest marks were in the snapshot too)
  or moved to another conversation (a `linked` event) is left out, so nothing is archived twice;
- the ingest marks of the record's messages still inside the dedupe window, and the delivery
  records of the record's replies that Redis does not have: a message the platform delivers again
  from now on is not ingested again, and a reply queued again for one is not posted again.

The write is one Lua call, guarded by the version that was read: a change in between refuses it,
and that change names the conversation again (it is brought forward on that read). The call adds
a change entry naming the conversation, so the archiver archives the merged state next.
Idempotent: Redis brought forward is no longer behind the record.

A conversation the snapshot holds that nothing changes again would never be read: `sweep` names
every conversation Redis holds at an older state on its partition's change stream. The archiver
runs it at its start and whenever it finds the id counters behind the record's (Redis restored
under it). The same pass finds the conversations of people erased after the snapshot was taken
(not in the record, created before the erasure): the archiver erases them from Redis again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text

from .database import Database
from .moves import moved_by
from .reader import stored
from .record import Dropped, Record, Rewound

# KEYS[1] partition prefix. ARGV: 1 conversation id, 2 its version as read, 3 the hash as JSON,
# 4 the messages to hold as JSON [[score, raw], ...], 5 the messages to leave out as JSON [raw],
# 6 the events as JSON [raw, ...], 7 the delivery records to add as JSON {reply id: {...}},
# 8 the thread ("platform:account:key"), 9 the ingest marks to set as JSON [[dedupe id, ttl s]].
# Returns 0 (the version changed since the read: nothing written) or 1.
_FORWARD = """
local prefix = KEYS[1]
local c = prefix .. ':conv:' .. ARGV[1]
if (redis.call('HGET', c, 'version') or '') ~= ARGV[2] then return 0 end
local h = cjson.decode(ARGV[3])
local flat = {}
for k, v in pairs(h) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', c, unpack(flat))
for _, raw in ipairs(cjson.decode(ARGV[5])) do redis.call('ZREM', c .. ':messages', raw) end
for _, m in ipairs(cjson.decode(ARGV[4])) do redis.call('ZADD', c .. ':messages', m[1], m[2]) end
redis.call('DEL', c .. ':events')
for _, e in ipairs(cjson.decode(ARGV[6])) do redis.call('RPUSH', c .. ':events', e) end
for reply_id, record in pairs(cjson.decode(ARGV[7])) do
  local d = prefix .. ':reply:' .. reply_id
  if redis.call('EXISTS', d) == 0 then
    redis.call('HSET', d, 'state', record['state'], 'platform_ids', record['platform_ids'], 'error',
      record['error'], 'updated_at', record['updated_at'])
  end
end
for _, mark in ipairs(cjson.decode(ARGV[9])) do
  redis.call('SET', prefix .. ':seen:' .. mark[1], '1', 'NX', 'EX', mark[2])
end
redis.call('SET', prefix .. ':thread:' .. ARGV[8], ARGV[1], 'NX')
redis.call('ZADD', prefix .. ':idx:updated', h['updated_at'], ARGV[1])
redis.call('XADD', prefix .. ':changes', '*', 'c', ARGV[1])
return 1
"""


# KEYS[1] partition prefix. ARGV: per conversation its id, the record's rev, created_at, events
# archived and the sha1 of the last one ("": not known). Names those Redis holds at an older state
# than the record (as `snapshot._READ` finds them; another conversation under the id is not one)
# on the partition's change stream; returns their ids.
_BEHIND = """
local out = {}
for i = 1, #ARGV, 5 do
  local c = KEYS[1] .. ':conv:' .. ARGV[i]
  local h = redis.call('HMGET', c, 'version', 'created_at')
  if h[1] and tonumber(h[2] or 0) == tonumber(ARGV[i + 2]) then
    local archived, last = tonumber(ARGV[i + 3]), ARGV[i + 4]
    local behind = tonumber(h[1]) < tonumber(ARGV[i + 1])
    if not behind and archived > 0 then
      if last == '' then
        behind = redis.call('LLEN', c .. ':events') < archived
      else
        local e = redis.call('LINDEX', c .. ':events', archived - 1)
        behind = not e or redis.sha1hex(e) ~= last
      end
    end
    if behind then out[#out + 1] = ARGV[i] end
  end
end
if #out > 0 then redis.call('XADD', KEYS[1] .. ':changes', '*', 'c', table.concat(out, '\\31')) end
return out
"""
SWEEP_CHUNK = 500  # conversations per script call and record read


@dataclass(frozen=True, slots=True)
class Swept:
    """What comparing Redis with the record found."""

    named: list[str]  # conversations at an older state than the record, named on their change streams
    erased: list[Dropped]  # conversations of a person erased after they were made (see `erasure.py`)


async def sweep(client: redis.Redis, record: Record, marks: Mapping[int, int]) -> Swept:
    """Name every conversation Redis holds at an older state than the record on its partition's
    change stream, for the archiver to bring forward (`bring_forward`), in the partitions of
    `marks` (the record's highest id seq of each: an id above it is not in the record, and a
    partition without one is skipped); and find those the record does not hold that belong to a
    person erased after they were made (Redis restored from a snapshot older than the erasure),
    for the archiver to erase from Redis again. Reads Redis's index of conversations and the
    record's cursors a chunk at a time. Idempotent; deletes nothing."""
    script = client.register_script(_BEHIND)
    named: list[str] = []
    erased: list[Dropped] = []
    for p, highest in sorted(marks.items()):
        start = 0
        while chunk := await client.zrange(keys.conversations_by_update(p), start, start + SWEEP_CHUNK - 1):
            start += len(chunk)
            ids = [cid for cid in map(as_text, chunk) if int(cid.partition("-")[2]) <= highest]
            cursors = await record.cursors(ids)
            args: list[str | int] = []
            for cid, cursor in cursors.items():
                args += [cid, cursor.rev, cursor.created_at, cursor.archived_events, cursor.last_event]
            if args:
                named += [as_text(cid) for cid in await script(keys=[keys.partition_prefix(p)], args=args)]
            erased += await record.erased(await _owners(client, [cid for cid in ids if cid not in cursors]))
    return Swept(named, erased)


async def _owners(client: redis.Redis, conversation_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Conversation id -> contact id, created_at, as Redis holds them."""
    if not conversation_ids:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for cid in conversation_ids:
            pipe.hmget(keys.conversation(cid), ["contact_id", "created_at"])
        rows = await pipe.execute()
    return {
        cid: (as_text(owner), int(created_at or 0))
        for cid, (owner, created_at) in zip(conversation_ids, rows, strict=True)
        if owner is not None
    }


@dataclass(frozen=True, slots=True)
class Forward:
    """What bringing one conversation forward did."""

    conversation_id: str
    version: int  # Redis's, before
    rev: int  # the record's
    brought_to: int  # Redis's version now
    events: int  # events made since the restore, kept after the record's
    messages: int  # messages received since the restore, kept
    left_out: int  # messages the record holds already (delivered again) or that moved


def _int(value: str | None) -> int:
    return int(value) if value else 0


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


async def bring_forward(
    client: redis.Redis, db: Database, rewound: Rewound, dedupe_window_s: float, now_ms: int
) -> Forward | None:
    """Bring the conversation Redis holds at an older state than the record forward to the
    record's state (see the top); `dedupe_window_s` is how long ingest marks live
    (`pipeline.dedupe_window_hours`). Idempotent. None when nothing was written: the record or
    Redis does not hold it (erased or evicted meanwhile), or it changed since it was read."""
    cid = rewound.conversation_id
    record = await stored(db, cid)
    if record is None:
        return None
    async with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.conversation(cid))
        pipe.zrange(keys.messages(cid), 0, -1, withscores=True)
        pipe.lrange(keys.events(cid), 0, -1)
        raw_hash, raw_messages, raw_events = await pipe.execute()
    h = {as_text(k): as_text(v) for k, v in raw_hash.items()}
    if not h.get("version"):
        return None
    # Events: the record's, then Redis's after the point where the two lists part.
    theirs = [as_text(e) for e in raw_events]
    common = 0
    for ours, their in zip(record.events, theirs, strict=False):
        if ours != their:
            break
        common += 1
    known_events = set(record.events)
    since = [e for e in theirs[common:] if e not in known_events]
    merged_events = record.events + since
    # Messages: the record's, and Redis's that the record neither holds nor moved elsewhere.
    held = {raw for _, raw in record.messages}
    held_ids = {str(orjson.loads(raw).get("message_id")) for raw in held}
    moved = moved_by(merged_events)
    kept: list[tuple[int, str]] = []
    left_out: list[str] = []
    for member, score in raw_messages:
        raw = as_text(member)
        if raw in held:
            continue
        message_id = str(orjson.loads(raw).get("message_id"))
        if message_id in held_ids or message_id in moved:
            left_out.append(raw)
        else:
            kept.append((int(score), raw))
    # The hash: the record's, above both versions.
    fields = dict(record.fields)
    version = _int(h["version"])
    brought_to = max(version, rewound.rev, _int(fields["version"])) + 1
    fields["version"] = str(brought_to)
    fields["message_count"] = str(len(record.messages) + len(kept))
    for name in ("updated_at", "last_customer_at"):
        if name in h or name in fields:
            fields[name] = str(max(_int(h.get(name)), _int(fields.get(name))))
    if kept and h.get("status"):
        fields["status"] = h["status"]
    marks = []  # as the ingest wrote them (`bus._INGEST`), for the rest of their window
    for _, raw in record.messages:
        m = orjson.loads(raw)
        ttl = int(dedupe_window_s - (now_ms - _ms(m.get("received_at") or m["platform_time"])) / 1000)
        if ttl > 0:
            marks.append([f"{m['platform']}:{m['account']}:{m['message_id']}", ttl])
    script = client.register_script(_FORWARD)
    done = await script(
        keys=[keys.partition_prefix(keys.conversation_partition(cid))],
        args=[
            cid,
            h["version"],
            json.dumps(fields),
            json.dumps([[str(s), raw] for s, raw in record.messages]),
            json.dumps(left_out),
            json.dumps(merged_events),
            json.dumps(record.deliveries),
            record.thread,
            json.dumps(marks),
        ],
    )
    if not done:
        return None
    return Forward(cid, version, rewound.rev, brought_to, len(since), len(kept), len(left_out))
