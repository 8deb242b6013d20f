"""Conversations, their history and events, in Redis.

Writes go through two Lua scripts (see `scripts.py`): one threads a customer message into its
conversation, one applies a list of effects (fields, label changes, events, replies, bot state)
all or none. This module is the only writer of conversations: the router, console actions, the
SLA engine and assignment all commit `Effects`. Concurrency is optimistic: every write raises the
conversation's `version`; a change decided on a read carries the version (or the field) it read
as a guard, and is refused as a conflict when another writer got there first, to be decided again
(`ConversationStore.update` does the loop). Changes that do not depend on a read (add a label,
append an event) need no guard: they are operations, not overwrites.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import redis.asyncio as redis

from . import keys
from .assignment import queue_member, queue_score
from .decode import as_text
from .models import (
    Contact,
    Conversation,
    ConversationEvent,
    Delivery,
    DeliveryState,
    EventType,
    InboundMessage,
    OutboundReply,
    Priority,
)
from .pipelined import execute
from .scripts import (
    APPLY_EFFECTS,
    APPLY_MESSAGES,
    CONFLICT,
    FENCED,
    MISSING,
    OP_ACK,
    OP_BOT_STATE,
    OP_EVENT,
    OP_EXISTS,
    OP_EXPECT_FIELD,
    OP_EXPECT_VERSION,
    OP_LABELS,
    OP_ONCE,
    OP_QUEUE,
    OP_REPLY,
    OP_SET,
    OP_SET_ONCE,
    OP_TOUCH,
    SEP,
    VIEW_FIELDS,
)

#: A change stream entry's field naming an agent no contact should keep as their last agent.
CHANGE_FORGET_AGENT = "a"
# KEYS[1] a contact. ARGV[1] an agent. Compare and delete in one step: a newer agent stays.
# KEYS[1] = a queue outbox. ARGV: conversation, entry pairs as copied (a newer entry stays).
_DROP_COPIED = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
"""

_FORGET_AGENT = """
if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 'last_agent') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'last_agent')
end
return 0
"""
_TIME_FIELDS = ("created_at", "updated_at", "last_customer_at", "first_response_at", "resolved_at")


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_ms(value: bytes | str | int | None) -> datetime | None:
    if value in (None, b"", ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def history_score(entry_id: str) -> int:
    """Order of a message in its history: its position in the inbound stream."""
    ms, _, seq = entry_id.partition("-")
    return int(ms) * 1000 + min(int(seq or 0), 999)


def conversation_from_hash(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> Conversation:
    """A conversation from its Redis hash."""
    h = {as_text(k): as_text(v) for k, v in raw.items()}
    return _conversation(h, h["id"], h["platform"], h["account"], h["kind"], h["thread_key"])


def conversation_from_view(view: Mapping[str, str], message: InboundMessage, conversation_id: str) -> Conversation:
    """A conversation from the router's view of it (`Applied.fields`) and a message of its thread."""
    return _conversation(
        view, conversation_id, message.platform, message.account, message.kind.value, message.thread_key
    )


def _conversation(
    h: Mapping[str, str], id_: str, platform: str, account: str, kind: str, thread_key: str
) -> Conversation:
    labels = h.get("labels")
    data: dict[str, Any] = {
        "id": id_,
        "platform": platform,
        "account": account,
        "kind": kind,
        "thread_key": thread_key,
        "contact_id": h["contact_id"],
        "status": h.get("status", "open"),
        "priority": h.get("priority") or "normal",
        "team": h.get("team") or None,
        "assignee": h.get("assignee") or None,
        "handler": h.get("handler") or None,
        "labels": tuple(json.loads(labels)) if labels and labels != "[]" else (),
        "language": h.get("language") or None,
        "message_count": int(h.get("message_count", 0)),
        "version": int(h.get("version") or 0),
    }
    for name in _TIME_FIELDS:  # epoch milliseconds: pydantic reads them as UTC times
        value = h.get(name)
        data[name] = int(value) if value else None
    data["updated_at"] = data["updated_at"] or data["created_at"]
    return Conversation.model_validate(data)


class Routing(NamedTuple):
    """What the rules give a conversation a message starts (its values as the hash stores them)."""

    priority: str
    team: str
    handler: str
    labels: str  # json


@dataclass(slots=True)
class Applied:
    """Where a message went: its conversation and what this delivery must still do."""

    conversation_id: str
    outcome: str  # "new", "pending" (effects must be redone) or "handled" (committed: nothing to do)
    reopened: bool
    previous_status: str
    fields: dict[str, str] = field(default_factory=dict)  # scripts.VIEW_FIELDS after the message
    bot_state: dict[str, str] = field(default_factory=dict)


class Fenced(Exception):
    """The caller no longer owns these partitions (their leases passed to another router):
    nothing of theirs was written; their entries are the new owner's now. (The call's other
    partitions were written: a caller repeats the call without the lost ones, safely, since both
    scripts are idempotent.)"""

    def __init__(self, partitions: set[int]) -> None:
        super().__init__(f"this router no longer owns partitions {sorted(partitions)}")
        self.partitions = partitions


@dataclass
class Effects:
    """Changes to one conversation, committed all or none by `ConversationStore.commit`.

    Kept as the operation values the effects script reads (see `scripts.APPLY_EFFECTS`), which
    are sent joined by SEP: a value may not contain it (JSON never does; a field value that did
    would be a bug, refused here rather than misread there). Guards (`expect_version`,
    `expect_field`, `once`) are checked before any operation, whatever the order they were added in."""

    conversation_id: str
    ops: list[str] = field(default_factory=list)
    guards: list[str] = field(default_factory=list)
    queues: bool = False  # it puts the conversation in a team queue (copied there after the commit)
    #: (contact id, agent id): the contact's last agent, written once this is committed (`remember_agent`)
    last_agent: tuple[str, str] | None = None
    # where the count of the last OP_SET is, while it is the last operation (-1: it is not)
    _set_count_at: int = field(default=-1, repr=False, compare=False)

    def packed(self) -> str:
        return SEP.join((*self.guards, *self.ops)) if self.guards else SEP.join(self.ops)

    def expect_exists(self) -> Effects:
        """Refused (MISSING) if there is no such conversation (e.g. erased meanwhile)."""
        self.guards.append(OP_EXISTS)
        return self

    def expect_version(self, version: int) -> Effects:
        """Refused (CONFLICT) unless the conversation is still at the version the decision read."""
        self.guards += (OP_EXPECT_VERSION, str(version))
        return self

    def expect_field(self, name: str, value: str) -> Effects:
        """Refused (CONFLICT) unless the field still has this value ("" = empty or absent)."""
        self.guards += (OP_EXPECT_FIELD, name, _value(name, value))
        return self

    def once(self, marker: str) -> Effects:
        """Applied once per marker (reported DONE after); the marker key is the conversation
        key plus ":" and `marker`, kept as long as the conversation."""
        self.guards += (OP_ONCE, _value("marker", marker))
        return self

    def labels(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Effects:
        """Add and remove labels as set operations: a concurrent change to other labels is kept."""
        add, remove = list(add), list(remove)
        self.ops += (
            OP_LABELS,
            str(len(add)),
            *(_value("labels", x) for x in add),
            str(len(remove)),
            *(_value("labels", x) for x in remove),
        )
        return self

    def set(self, **fields: str | int | None) -> Effects:
        """Set fields; sets in a row are one HSET (a later value of a field wins, as in order)."""
        at = self._set_count_at
        if at >= 0 and at + 1 + 2 * int(self.ops[at]) == len(self.ops):
            self.ops[at] = str(int(self.ops[at]) + len(fields))
        else:
            self.ops += (OP_SET, str(len(fields)))
            self._set_count_at = len(self.ops) - 1
        for k, v in fields.items():
            self.ops += (k, _value(k, "" if v is None else str(v)))
        return self

    def event(self, event: ConversationEvent) -> Effects:
        self.ops += (OP_EVENT, event.wire_json().decode())
        return self

    def reply(self, reply: OutboundReply, partition: int) -> Effects:
        self.ops += (
            OP_REPLY,
            keys.outbound_stream(partition, reply.platform, reply.account),
            keys.delivery(partition, reply.reply_id),
            reply.wire_json().decode(),
        )
        return self

    def set_once(self, **fields: str | int) -> Effects:
        self.ops += (OP_SET_ONCE, str(len(fields)))
        for k, v in fields.items():
            self.ops += (k, _value(k, str(v)))
        return self

    def bot_state(self, fields: Mapping[str, str]) -> Effects:
        self.ops += (OP_BOT_STATE, json.dumps(dict(fields)))
        return self

    def acknowledge(self, entry_id: str) -> Effects:
        """These are the effects of this inbound entry: acknowledge it in the same atomic call
        (the entry must be of the conversation's partition, as every message of its thread is)."""
        self.ops += (OP_ACK, entry_id)
        return self

    def touch(self) -> Effects:
        self.ops.append(OP_TOUCH)
        return self

    def remember_agent(self, contact_id: str, agent_id: str) -> Effects:
        """The contact's last agent (sticky assignment's hint) is `agent_id` once these effects are
        committed; not written if they are refused. See `ConversationStore.commit` for why after."""
        self.last_agent = (contact_id, agent_id)
        return self

    def queue(self, team: str, language: str | None, priority: Priority, created_ms: int) -> Effects:
        """Wait in the team's queue: `queued_team` is set and the queue entry recorded by the
        commit, then copied to the team queue (`ConversationStore.flush_queued`)."""
        self.queues = True
        member = queue_member(self.conversation_id, language)
        self.ops += (
            OP_QUEUE,
            _value("queued_team", team),
            _value("queue", member),
            repr(queue_score(priority, created_ms)),
        )
        return self


def _value(name: str, value: str) -> str:
    if SEP in value:
        raise ValueError(f"conversation field {name}: the control character U+001F is not allowed")
    return value


class ConversationStore:
    def __init__(self, client: redis.Redis, partitions: int, quiet_period_s: float = 3 * 86400) -> None:
        self.client = client
        self.partitions = partitions
        self.quiet_period_ms = int(quiet_period_s * 1000)
        self._apply = client.register_script(APPLY_MESSAGES)
        self._effects = client.register_script(APPLY_EFFECTS)
        self._forget = client.register_script(_FORGET_AGENT)
        self._drop_copied = client.register_script(_DROP_COPIED)

    def partition(self, platform: str, account: str, thread_key: str) -> int:
        return keys.partition_of(platform, account, thread_key, self.partitions)

    # writes ----------------------------------------------------------------------------------
    async def apply_messages(
        self,
        items: Sequence[tuple[InboundMessage, str, bytes, Routing]],
        now: datetime,
        fences: Mapping[int, str] | None = None,
    ) -> list[Applied]:
        """Thread messages into conversations. Items: (message, stream entry id, raw json, what
        the rules give the conversation if the message starts one).

        Idempotent: a message already in its history is reported "handled" (its entry was
        acknowledged with its effects) or "pending".
        One script call per partition; results come back in the order of `items`. `fences`: the
        caller's token per partition (see `ownership.py`); raises Fenced if one is no longer current.
        """
        now_ms = to_ms(now)
        by_partition: dict[int, list[int]] = {}
        args: dict[int, list[Any]] = {}
        for index, (message, entry_id, raw, routing) in enumerate(items):
            p = self.partition(message.platform, message.account, message.thread_key)
            by_partition.setdefault(p, []).append(index)
            facts = SEP.join(
                (
                    message.platform,
                    message.account,
                    message.kind.value,
                    message.thread_key,
                    contact_id(message),
                    message.language or "",
                    entry_id,
                    str(history_score(entry_id)),
                    *routing,
                )
            )
            args.setdefault(p, [p, now_ms, self.quiet_period_ms, keys.ROUTER_GROUP, (fences or {}).get(p, "")]).extend(
                [raw, facts]
            )
        async with self.client.pipeline(transaction=False) as pipe:
            for p in by_partition:
                await self._apply(keys=[keys.partition_prefix(p)], args=args[p], client=pipe)
            replies = await execute(self.client, pipe)
        results: list[Applied | None] = [None] * len(items)
        _raise_if_fenced(list(by_partition), replies)
        for p, reply in zip(by_partition, replies, strict=True):
            for index, r in zip(by_partition[p], reply, strict=True):
                values = r[4].decode().split(SEP) if r[4] else []
                view = {name: v for name, v in zip(VIEW_FIELDS, values, strict=False) if v}
                state = view.pop("bot_state", None)
                results[index] = Applied(
                    r[0].decode(), r[1].decode(), r[2] == 1, r[3].decode(), view, json.loads(state) if state else {}
                )
        return [r for r in results if r is not None]

    async def commit(
        self, effects: Iterable[Effects], now: datetime, fences: Mapping[int, str] | None = None
    ) -> list[int]:
        """Apply each item's effects atomically (one script call per partition). Returns, per
        item in order, the replies it newly queued, or CONFLICT, MISSING or DONE (nothing of it
        written). Raises Fenced (nothing of the call written) if a fencing token is not current."""
        items = [e for e in effects]
        by_partition: dict[int, list[Any]] = {}
        order: dict[int, list[int]] = {}
        for index, e in enumerate(items):
            if e.ops:
                p = keys.conversation_partition(e.conversation_id)
                order.setdefault(p, []).append(index)
                by_partition.setdefault(p, [to_ms(now), keys.ROUTER_GROUP, (fences or {}).get(p, "")]).extend(
                    [e.conversation_id, e.packed()]
                )
        results = [0] * len(items)
        if not by_partition:
            return results
        async with self.client.pipeline(transaction=False) as pipe:
            for p, args in by_partition.items():
                await self._effects(keys=[keys.partition_prefix(p)], args=args, client=pipe)
            replies = await execute(self.client, pipe)
        _raise_if_fenced(list(by_partition), replies)
        for p, reply in zip(by_partition, replies, strict=True):
            for index, code in zip(order[p], reply, strict=True):
                results[index] = int(code)
        queued = {
            keys.conversation_partition(e.conversation_id)
            for e, code in zip(items, results, strict=True)
            if e.queues and code >= 0
        }
        if queued:
            await self.flush_queued(sorted(queued))
        # The contact's last agent cannot be written by the commit script: a contact's key
        # (`keys.contact`) carries no hash tag, its slot is neither the partition's (`{p3}`) nor
        # the assignment state's (`{asg}`), and it cannot take a partition's tag, since one
        # contact's conversations (on several threads, accounts, platforms) live in many
        # partitions. So it is written here, after the commit and only for what the commit
        # applied: a refused commit (a conflict, the conversation erased, a lost partition) never
        # leaves a hint naming an agent the conversation was not given. HSET of the same value:
        # idempotent. Residual window: a crash between the commit and this write loses the hint
        # (the conversation keeps its assignee; the next one is assigned by load, or by the
        # record's last agent when Redis has none); never a wrong one. An archiver that reads the
        # contact in between records the hint with the contact's next change.
        remembered = dict(  # in the items' order: a contact's later agent in the call wins
            e.last_agent for e, code in zip(items, results, strict=True) if e.last_agent and e.ops and code >= 0
        )
        if remembered:
            async with self.client.pipeline(transaction=False) as pipe:  # keys in many slots
                for contact_id_, agent_id in remembered.items():
                    pipe.hset(keys.contact(contact_id_), "last_agent", agent_id)
                await pipe.execute()
        return results

    async def flush_queued(self, partitions: Iterable[int]) -> int:
        """Copy the queue entries committed in these partitions to their team queues, for the
        conversations still waiting in that team's queue. Idempotent: after a crash between a
        commit and its copy, the janitor's sweep copies them. Returns the entries copied."""
        copied = 0
        for p in partitions:
            outbox = keys.queue_outbox(p)
            pending = {as_text(k): as_text(v) for k, v in (await self.client.hgetall(outbox)).items()}  # type: ignore[misc]
            if not pending:
                continue
            async with self.client.pipeline(transaction=False) as pipe:
                for cid in pending:
                    pipe.hget(keys.conversation(cid), "queued_team")
                teams = await pipe.execute()
            async with self.client.pipeline(transaction=False) as pipe:
                for entry, team in zip(pending.values(), teams, strict=True):
                    queue_team, member, score = entry.split("\t")
                    if team is not None and as_text(team) == queue_team:
                        pipe.zadd(keys.team_queue(queue_team), {member: float(score)})
                        copied += 1
                await pipe.execute()
            await self._drop_copied(keys=[outbox], args=[x for item in pending.items() for x in item])
        return copied

    async def update(
        self,
        conversation_id: str,
        decide: Callable[[Conversation], Effects | None],
        now: datetime | None = None,
        attempts: int = 20,
    ) -> tuple[Conversation, Effects | None]:
        """Read, decide, commit guarded by the version read; on a conflict read and decide again.
        `decide` is pure (it may run more than once) and returns None for "nothing to change".
        Returns the conversation as read for the decision that was committed, and its effects.
        Raises KeyError if there is no such conversation, RuntimeError if it kept changing."""
        for _ in range(attempts):
            conv = await self.get(conversation_id)
            if conv is None:
                raise KeyError(conversation_id)
            effects = decide(conv)
            if effects is None:
                return conv, None
            effects.expect_exists().expect_version(conv.version)
            (code,) = await self.commit([effects], now or datetime.now(UTC))
            if code == MISSING:
                raise KeyError(conversation_id)
            if code != CONFLICT:
                return conv, effects
        raise RuntimeError(f"conversation {conversation_id} kept changing; try again")

    async def remember_agent(self, contact_id_: str, agent_id: str) -> None:
        """The contact's last agent (the router prefers them when the customer writes again)."""
        await self.client.hset(keys.contact(contact_id_), "last_agent", agent_id)  # type: ignore[misc]

    async def forget_agent(self, agent_id: str) -> int:
        """Take `agent_id` off every contact as their last agent (a removed user: a later user of
        the same name inherits no customers). Redis first, then an entry on the change stream that
        tells the archiver to do the same in the record, where the contacts whose Redis copy
        expired still name the agent, and to take the agent off the conversations that are only
        there. Returns the Redis contacts cleared. Idempotent."""
        cleared = 0
        found: list[bytes] = []
        async for key in self.client.scan_iter(match=keys.contact("*"), count=1000):
            found.append(key)
        for start in range(0, len(found), 500):
            async with self.client.pipeline(transaction=False) as pipe:
                for key in found[start : start + 500]:
                    await self._forget(keys=[key], args=[agent_id], client=pipe)
                cleared += sum(await execute(self.client, pipe))
        await self.client.xadd(keys.changes(0), {CHANGE_FORGET_AGENT: agent_id})
        return cleared

    async def upsert_contacts(self, messages: Iterable[InboundMessage]) -> None:
        """Create or refresh contacts from message authors, in order (a later message's fields
        win). Idempotent. A contact several messages share is written once."""
        contacts: dict[str, dict[str, str]] = {}
        for m in messages:
            cid = contact_id(m)
            fields = contacts.setdefault(cid, {"id": cid, "platform": m.platform, "account": m.account})
            fields.update(user_id=m.author.user_id, handle=m.author.handle, display_name=m.author.display_name)
            if m.language:
                fields["language"] = m.language
        if not contacts:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for cid, fields in contacts.items():
                pipe.hset(keys.contact(cid), mapping=fields)
                pipe.persist(keys.contact(cid))  # they are back: no longer expiring after eviction
            await pipe.execute()

    # reads -----------------------------------------------------------------------------------
    async def get(self, conversation_id: str) -> Conversation | None:
        raw = await self.client.hgetall(keys.conversation(conversation_id))  # type: ignore[misc]
        return conversation_from_hash(raw) if raw else None

    async def get_many(self, conversation_ids: Sequence[str]) -> list[Conversation]:
        async with self.client.pipeline(transaction=False) as pipe:
            for cid in conversation_ids:
                pipe.hgetall(keys.conversation(cid))
            raws = await pipe.execute()
        return [conversation_from_hash(raw) for raw in raws if raw]

    async def find_thread(self, platform: str, account: str, thread_key: str) -> str | None:
        p = self.partition(platform, account, thread_key)
        value = await self.client.get(keys.thread(p, platform, account, thread_key))
        return None if value is None else as_text(value)

    async def messages(self, conversation_id: str) -> list[InboundMessage]:
        raw = await self.client.zrange(keys.messages(conversation_id), 0, -1)
        return [InboundMessage.model_validate_json(m) for m in raw]

    async def events(self, conversation_id: str) -> list[ConversationEvent]:
        raw = await self.client.lrange(keys.events(conversation_id), 0, -1)  # type: ignore[misc]
        return [ConversationEvent.model_validate_json(e) for e in raw]

    async def bot_state(self, conversation_id: str) -> dict[str, str]:
        raw = await self.client.hget(keys.conversation(conversation_id), "bot_state")  # type: ignore[misc]
        return dict(json.loads(raw)) if raw else {}

    async def contact(self, contact_id_: str) -> Contact | None:
        raw = await self.client.hgetall(keys.contact(contact_id_))  # type: ignore[misc]
        if not raw:
            return None
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        h = {k: v for k, v in h.items() if k in Contact.model_fields and v != ""}
        return Contact.model_validate(h)

    async def deliveries(self, conversation_id: str, events: Sequence[ConversationEvent]) -> list[Delivery]:
        """The delivery records of the replies the conversation's events (`events()`) say were
        queued: every queued reply has its REPLY_QUEUED event (a reply id may repeat: the first counts)."""
        p = keys.conversation_partition(conversation_id)
        reply_ids = list(
            dict.fromkeys(
                str(e.data["reply_id"]) for e in events if e.type is EventType.REPLY_QUEUED and e.data.get("reply_id")
            )
        )
        async with self.client.pipeline(transaction=False) as pipe:
            for rid in reply_ids:
                pipe.hgetall(keys.delivery(p, rid))
            raws = await pipe.execute()
        out = []
        for rid, raw in zip(reply_ids, raws, strict=True):
            h = {as_text(k): as_text(v) for k, v in raw.items()}
            out.append(
                Delivery(
                    reply_id=rid,
                    state=DeliveryState(h.get("state", "queued")),
                    platform_message_ids=tuple(json.loads(h.get("platform_ids") or "[]")),
                    error=h.get("error") or None,
                    attempts=int(h.get("attempts", 0)),
                    updated_at=from_ms(h.get("updated_at")) or datetime.now(UTC),
                )
            )
        return out

    async def recent(self, limit: int = 50, before_ms: int | None = None) -> list[str]:
        """Conversation ids by last update, newest first, merged across partitions."""
        top = "+inf" if before_ms is None else f"({before_ms}"
        async with self.client.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.zrevrangebyscore(keys.conversations_by_update(p), top, "-inf", start=0, num=limit, withscores=True)
            per_partition = await pipe.execute()
        merged = heapq.merge(*per_partition, key=lambda item: -item[1])
        return [as_text(cid) for cid, _ in list(merged)[:limit]]


def _raise_if_fenced(partitions: Sequence[int], replies: Sequence[Any]) -> None:
    lost = {p for p, r in zip(partitions, replies, strict=True) if isinstance(r, bytes | str) and as_text(r) == FENCED}
    if lost:
        raise Fenced(lost)


def contact_id(message: InboundMessage) -> str:
    """One contact per platform user, as seen from one of our accounts."""
    return contact_id_of(message.platform, message.account, message.author.user_id)


def contact_id_of(platform: str, account: str, user_id: str) -> str:
    return f"{platform}:{account}:{user_id}"
