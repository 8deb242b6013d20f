"""Reading what changed from Redis and turning it into the record's rows.

A conversation is read in one MULTI (hash, the messages after the archived ones, the events after
the archived ones), so the rows written carry exactly the `version` they were read at.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

import redis.asyncio as redis

from helpline.routing import keys

from .record import Batch, Cursor, Row
from .schema import conversation_num
from .tokens import document

COLUMNS = ("platform", "account", "kind", "thread_key", "contact_id", "status", "priority", "team", "assignee",
           "handler", "labels", "language")
TIMES = ("created_at", "updated_at", "first_response_at", "resolved_at")
_OWN = {"id", "version", "message_count", *COLUMNS, *TIMES}
_NONE = Cursor(0, 0, 0, -1, "")


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _int(value: str | None) -> int | None:
    return int(value) if value else None


async def read_changes(client: redis.Redis, conversation_ids: Iterable[str], reply_ids: Iterable[tuple[int, str]],
                       cursors: Mapping[str, Cursor]) -> Batch:
    """The rows for the given conversations (beyond what `cursors` says is archived) and replies."""
    batch = Batch()
    by_partition: dict[int, list[str]] = {}
    for cid in dict.fromkeys(conversation_ids):
        by_partition.setdefault(keys.conversation_partition(cid), []).append(cid)
    replies = dict.fromkeys(reply_ids)
    contacts: set[str] = set()
    for ids in by_partition.values():
        async with client.pipeline(transaction=True) as pipe:
            for cid in ids:
                cursor = cursors.get(cid, _NONE)
                c = keys.conversation(cid)
                pipe.hgetall(c)
                pipe.zcard(keys.messages(cid))
                pipe.zrangebyscore(keys.messages(cid), f"({cursor.last_score}", "+inf", withscores=True)
                pipe.lrange(keys.events(cid), cursor.archived_events, -1)
            raw = await pipe.execute()
        for i, cid in enumerate(ids):
            h_raw, count, new_messages, new_events = raw[4 * i: 4 * i + 4]
            h = {_s(k): _s(v) for k, v in h_raw.items()}
            if "platform" not in h:
                continue  # evicted or erased since the change: nothing of it to archive
            cursor = cursors.get(cid, _NONE)
            if cursor.archived_messages + len(new_messages) < int(count):  # a message landed behind the cursor
                new_messages = await client.zrange(keys.messages(cid), 0, -1, withscores=True)
            _conversation(batch, cid, h, int(count), new_messages, new_events, cursor, replies)
            contacts.add(h["contact_id"])
    await _contacts_and_deliveries(client, batch, contacts, replies)
    return batch


def _conversation(batch: Batch, cid: str, h: dict[str, str], count: int, new_messages: list[tuple[bytes, float]],
                  new_events: list[bytes], cursor: Cursor, replies: dict[tuple[int, str], None]) -> None:
    texts: list[str] = []
    last_score = cursor.last_score
    for raw, score in new_messages:
        m = json.loads(raw)
        author = m.get("author") or {}
        seq = int(score)
        last_score = max(last_score, seq)
        batch.messages.append({
            "conversation_id": cid, "seq": seq, "message_id": m["message_id"], "author_id": author.get("user_id", ""),
            "author_handle": author.get("handle", ""), "author_name": author.get("display_name", ""),
            "text": m.get("text", ""), "language": m.get("language"), "at": _ms(m["platform_time"]),
            "raw": _s(raw),
        })
        texts += (m.get("text", ""), author.get("handle", ""), author.get("display_name", ""))
    partition = keys.conversation_partition(cid)
    for offset, raw in enumerate(new_events):
        e = json.loads(raw)
        data = e.get("data") or {}
        batch.events.append({"conversation_id": cid, "seq": cursor.archived_events + offset, "type": e["type"],
                             "actor": e.get("actor", ""), "at": _ms(e["at"]), "raw": _s(raw)})
        if e["type"] in ("reply_queued", "note") and isinstance(data.get("text"), str):
            texts.append(data["text"])
        if e["type"] == "reply_queued" and data.get("reply_id"):
            batch.reply_contents.append({
                "reply_id": str(data["reply_id"]), "conversation_id": cid, "sender": e.get("actor", ""),
                "text": str(data.get("text") or ""), "private": bool(data.get("private")), "created_at": _ms(e["at"]),
            })
            replies[(partition, str(data["reply_id"]))] = None
    labels = h.get("labels") or "[]"
    texts += json.loads(labels)
    batch.conversations.append({
        "id": cid, "num": conversation_num(cid), "rev": int(h.get("version") or 0),
        "message_count": int(h.get("message_count") or 0),
        **{name: h.get(name) or None for name in COLUMNS},
        "labels": labels, "priority": h.get("priority") or "normal", "status": h.get("status") or "open",
        **{name: _int(h.get(name)) for name in TIMES},
        "archived_events": cursor.archived_events + len(new_events), "archived_messages": count,
        "last_score": last_score, "fields": json.dumps({k: v for k, v in h.items() if k not in _OWN}),
        "document": document(texts, cursor.document),
    })
    conv = batch.conversations[-1]
    conv["created_at"] = conv["created_at"] or 0
    conv["updated_at"] = conv["updated_at"] or conv["created_at"]


async def _contacts_and_deliveries(client: redis.Redis, batch: Batch, contacts: set[str],
                                   replies: dict[tuple[int, str], None]) -> None:
    contact_ids = list(contacts)
    async with client.pipeline(transaction=False) as pipe:
        for contact in contact_ids:
            pipe.hgetall(keys.contact(contact))
        for partition, reply_id in replies:
            pipe.hmget(keys.delivery(partition, reply_id), ["state", "platform_ids", "error", "updated_at"])
        raw = await pipe.execute()
    found: dict[str, Row] = {}
    for contact, h_raw in zip(contact_ids, raw, strict=False):
        h = {_s(k): _s(v) for k, v in h_raw.items()}
        if h.get("platform"):
            found[contact] = {
                "id": contact, "platform": h["platform"], "account": h.get("account", ""),
                "user_id": h.get("user_id", ""), "handle": h.get("handle", ""),
                "display_name": h.get("display_name", ""), "language": h.get("language") or None,
                "last_agent": h.get("last_agent") or None,
            }
    batch.contacts.extend(found.values())
    for (_, reply_id), (state, platform_ids, error, updated_at) in zip(replies, raw[len(contact_ids):], strict=True):
        if state is not None:
            batch.reply_deliveries.append({
                "reply_id": reply_id, "state": _s(state), "platform_ids": _s(platform_ids or b"[]"),
                "error": _s(error or b""), "updated_at": int(updated_at or 0),
            })
    for conv in batch.conversations:  # the contact's name and handle are found by search too
        person = found.get(conv["contact_id"])
        if person:
            conv["document"] = document((person["handle"], person["display_name"]), conv["document"])
