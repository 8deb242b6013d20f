"""Conversation actions by a console user. Each is recorded as a ConversationEvent with actor
"agent:<id>" and a reason, committed atomically through `ConversationStore.commit`, then
announced on the live channel. Assignment moves live in `assigning.py`."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from helpline.routing import keys
from helpline.routing.assignment import parse_member, queue_score
from helpline.routing.models import (
    Conversation,
    ConversationEvent,
    DeliveryState,
    EventType,
    InboundMessage,
    Priority,
    Status,
    utcnow,
)
from helpline.routing.outbound import reply_to
from helpline.routing.store import Effects, to_ms

from . import files, learning, live
from .email_copy import email_copy
from .errors import Collision, Conflict, Forbidden, Invalid, NotFound
from .roles import Principal, can_act, can_view
from .schemas import FileRef, ReplyOut
from .services import Services

ESCALATED = "escalated"
LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
REPLY_CLAIM_MS = 30_000  # a crashed request's claim expires; its retry then goes through


def event(
    conv: Conversation,
    type_: EventType,
    who: Principal | str,
    reason: str,
    at: datetime,
    **data: str | int | float | bool | list[str] | None,
) -> ConversationEvent:
    actor = who if isinstance(who, str) else who.actor
    return ConversationEvent(conversation_id=conv.id, type=type_, actor=actor, reason=reason, data=data, at=at)


async def load(svc: Services, who: Principal, conversation_id: str, act: bool = False) -> Conversation:
    """The conversation if the user may see it (and act on it); otherwise NotFound/Forbidden."""
    if not re.fullmatch(r"\d+-\d+", conversation_id):
        raise NotFound(f"conversation {conversation_id!r} not found")
    conv = await svc.store.get(conversation_id)
    if conv is None:  # archived and evicted: back into Redis from the record, if the user may see it
        from .archived import restore

        conv = await restore(svc, who, conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    if not can_view(who, conv):
        raise Forbidden("you may not see this conversation")
    if act and not can_act(who, conv):
        raise Forbidden("your role may not act on conversations")
    return conv


async def commit(svc: Services, effects: Sequence[Effects], now: datetime, by: Principal | None = None) -> None:
    await svc.store.commit(effects, now)
    await live.publish(svc.client, [e.conversation_id for e in effects], by.username if by else None)


def reply_id_for(conv: Conversation, who: Principal, idempotency_key: str | None) -> str:
    """Deterministic from the client's Idempotency-Key: a double-click posts once."""
    key = idempotency_key or uuid.uuid4().hex
    return f"{conv.id}:agent:{who.username}:{hashlib.sha256(key.encode()).hexdigest()[:24]}"


async def reply(
    svc: Services,
    who: Principal,
    conv: Conversation,
    text: str,
    idempotency_key: str | None,
    opened_at: datetime | None = None,
    confirm: bool = False,
    attachments: Sequence[FileRef] = (),
    canned_id: str | None = None,
) -> ReplyOut:
    """Queue an agent reply in the conversation's own thread, with the thread's visibility.
    Idempotent per Idempotency-Key: a repeat returns the first reply's delivery state. With
    `opened_at`, a reply another agent sent since then makes it a `Collision` unless `confirm`.
    A reply that gives a help-center article (its link, or `canned_id` tied to it) names it in
    its event and proposes the customer's question as an example of it (`learning`)."""
    text = text.strip()
    if not text:
        raise Invalid("text: a reply cannot be empty")
    store, client = svc.store, svc.client
    reply_id = reply_id_for(conv, who, idempotency_key)
    partition = keys.conversation_partition(conv.id)
    existing = await client.hget(keys.delivery(partition, reply_id), "state")  # type: ignore[misc]
    if existing is not None:
        return ReplyOut(reply_id=reply_id, delivery=existing.decode(), duplicate=True, visibility=conv.visibility.value)
    if opened_at is not None and not confirm:
        others = await replied_since(svc, who, conv, opened_at)
        if others:
            raise Collision(f"{', '.join(others)} replied since you opened this conversation; send anyway?")
    attached = await files.for_reply(svc, conv, attachments)
    if not await client.set(keys.console_reply_claim(reply_id), "1", nx=True, px=REPLY_CLAIM_MS):
        raise Conflict("the same reply is being sent; retry in a moment")
    tail = await client.zrange(keys.messages(conv.id), -1, -1)
    last = InboundMessage.model_validate_json(tail[0]) if tail else None
    contact = await store.contact(conv.contact_id)
    out = reply_to(
        conv,
        reply_id=reply_id,
        text=text,
        sender=who.actor,
        in_reply_to=last.message_id if last else None,
        recipient_id=last.author.user_id if last else (contact.user_id if contact else None),
        attachments=attached,
    )
    found = await learning.article_of_reply(svc, text, canned_id)
    article = {"article": found[0].key} if found else {}
    now = utcnow()
    effects = Effects(conv.id).reply(out, partition)
    copy = email_copy(svc, conv, contact, out)
    if copy is not None:  # the customer left an address for our answer (a web chat visitor off hours)
        effects = effects.reply(copy, partition)
    effects = (
        effects.event(
            event(
                conv,
                EventType.REPLY_QUEUED,
                who,
                "agent reply",
                now,
                reply_id=reply_id,
                text=text,
                private=out.visibility.value == "private",
                **files.event_data(attached),
                **article,
            )
        )
        .set_once(first_response_at=to_ms(now))
        .touch()
    )
    await commit(svc, [effects], now, by=who)
    await learning.learn_from_reply(svc, who, conv, found)
    return ReplyOut(reply_id=reply_id, delivery=DeliveryState.QUEUED.value, visibility=out.visibility.value)


async def replied_since(svc: Services, who: Principal, conv: Conversation, since: datetime) -> list[str]:
    """The other agents who replied in the conversation after `since`."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    actors = [
        e.actor
        for e in await svc.store.events(conv.id)
        if e.type is EventType.REPLY_QUEUED and e.at > since and e.actor.startswith("agent:") and e.actor != who.actor
    ]
    return sorted({a.removeprefix("agent:") for a in actors})


async def note(svc: Services, who: Principal, conv: Conversation, text: str) -> None:
    """A private note for colleagues; never sent to the customer."""
    text = text.strip()
    if not text:
        raise Invalid("text: a note cannot be empty")
    now = utcnow()
    await commit(
        svc,
        [Effects(conv.id).event(event(conv, EventType.NOTE, who, "internal note", now, text=text)).touch()],
        now,
        by=who,
    )


def _labels(values: Sequence[str]) -> list[str]:
    out = [v.strip().lower() for v in values]
    bad = [v for v in out if not LABEL.fullmatch(v)]
    if bad:
        raise Invalid(f"labels: {bad[0]!r} is not a label (a-z, 0-9, - and _; up to 32)")
    return out


async def change_labels(
    svc: Services, who: Principal, conv: Conversation, add: Sequence[str], remove: Sequence[str], reason: str
) -> bool:
    """Add and remove labels (set operations, so a label another writer adds meanwhile is kept).
    Idempotent: no change records no event."""
    added, removed = _labels(add), _labels(remove)
    now = utcnow()

    def decide(current: Conversation) -> Effects | None:
        labels = sorted((set(current.labels) | set(added)) - set(removed))
        if labels == sorted(current.labels):
            return None
        return (
            Effects(conv.id)
            .labels(add=added, remove=removed)
            .event(event(current, EventType.LABELS, who, reason or "labels changed", now, labels=labels))
            .touch()
        )

    return await update(svc, conv.id, decide, now, by=who) is not None


async def update(
    svc: Services,
    conversation_id: str,
    decide: Callable[[Conversation], Effects | None],
    now: datetime,
    by: Principal | None = None,
) -> Conversation | None:
    """Decide on the conversation as it is now and commit, again if another writer changed it
    meanwhile (see `ConversationStore.update`). Returns the conversation the committed decision
    read, or None if it decided there was nothing to do."""
    try:
        conv, effects = await svc.store.update(conversation_id, decide, now)
    except KeyError:
        raise NotFound(f"conversation {conversation_id!r} not found") from None
    except RuntimeError as exc:
        raise Conflict(str(exc)) from None
    if effects is None:
        return None
    await live.publish(svc.client, [conversation_id], by.username if by else None)
    return conv


async def escalate(svc: Services, who: Principal, conv: Conversation, reason: str) -> None:
    """Priority one step up, the "escalated" label (the supervisors' view), queue re-ranked."""
    now = utcnow()
    why = reason or "escalated by an agent"

    def decide(current: Conversation) -> Effects:
        raised = current.priority.raised()
        labels = sorted(set(current.labels) | {ESCALATED})
        return (
            Effects(conv.id)
            .set(priority=raised.value)
            .labels(add=[ESCALATED])
            .event(
                event(
                    current, EventType.PRIORITY, who, why, now, previous=current.priority.value, priority=raised.value
                )
            )
            .event(event(current, EventType.LABELS, who, why, now, labels=labels))
            .touch()
        )

    read = await update(svc, conv.id, decide, now, by=who)
    assert read is not None
    queued = await svc.client.hget(keys.conversation(conv.id), "queued_team")  # type: ignore[misc]
    if queued:
        await requeue(svc, queued.decode(), read, read.priority.raised().value)


async def requeue(svc: Services, team: str, conv: Conversation, priority: str) -> None:
    """Give a waiting conversation its new rank in the team queue."""
    client = svc.client
    members = [m.decode() for m in await client.zrange(keys.team_queue(team), 0, -1)]
    for member in members:
        if parse_member(member)[0] == conv.id:
            await client.zadd(
                keys.team_queue(team), {member: queue_score(Priority(priority), to_ms(conv.created_at))}, xx=True
            )


async def set_pending(
    svc: Services, who: Principal, conv: Conversation, reason: str, until: datetime | None = None
) -> None:
    """Waiting on the customer (optionally snoozed until a time). The agent keeps the slot:
    the customer's answer comes back to them. A customer message reopens it anyway. Decided on
    the conversation as it is at the commit: one another agent resolved meanwhile is refused
    (Conflict), not turned pending without its agent."""
    now = utcnow()
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)  # a time without a zone is taken as UTC
    if until is not None and until <= now:
        raise Invalid("until: must be in the future")
    data: dict[str, str | int | float | bool | list[str] | None] = {"status": Status.PENDING.value}
    if until is not None:
        data["until"] = until.isoformat()

    def decide(current: Conversation) -> Effects:
        if current.status is Status.RESOLVED:
            raise Conflict("the conversation is resolved; reopen it first")
        return (
            Effects(conv.id)
            .set(status=Status.PENDING.value, snoozed_until=to_ms(until) if until else "")
            .event(
                event(
                    current,
                    EventType.STATUS,
                    who,
                    reason or ("snoozed" if until else "waiting on the customer"),
                    now,
                    **data,
                )
            )
            .touch()
        )

    await update(svc, conv.id, decide, now, by=who)
    if until is not None:
        await svc.client.zadd(keys.console_snoozed(), {conv.id: to_ms(until)})
    else:
        await svc.client.zrem(keys.console_snoozed(), conv.id)


async def wake_snoozed(svc: Services, now: datetime | None = None) -> list[str]:
    """Reopen conversations whose snooze ended. Idempotent; safe with several console processes
    (ZREM decides who wakes each one). Each wake is guarded by the status and snooze it read: a
    conversation resolved or answered by the customer in between is left as it is."""
    now = now or utcnow()
    client = svc.client
    due = await client.zrangebyscore(keys.console_snoozed(), "-inf", to_ms(now), withscores=True)
    woken: list[Effects] = []
    for raw, score in due:
        cid = raw.decode()
        if not await client.zrem(keys.console_snoozed(), cid):
            continue
        status, until = await client.hmget(keys.conversation(cid), ["status", "snoozed_until"])  # type: ignore[misc]
        conv = await svc.store.get(cid)
        if conv is None or status != b"pending" or until is None or int(until) != int(score):
            continue  # the customer wrote, or someone changed it since: nothing to wake
        woken.append(
            Effects(cid)
            .expect_field("status", Status.PENDING.value)
            .expect_field("snoozed_until", until.decode())
            .set(status=Status.OPEN.value, snoozed_until="")
            .event(event(conv, EventType.STATUS, "system", "snooze ended", now, status="open"))
            .touch()
        )
    if not woken:
        return []
    codes = await svc.store.commit(woken, now)
    done = [e.conversation_id for e, code in zip(woken, codes, strict=True) if code >= 0]
    await live.publish(client, done)
    return done


async def mark_seen(svc: Services, who: Principal, conv: Conversation) -> None:
    await svc.client.hset(keys.console_seen(who.username), conv.id, str(to_ms(utcnow())))  # type: ignore[misc]
