"""Subscribing by command and button; incident auto-linking and bulk resolution."""

from __future__ import annotations

import json
from datetime import timedelta

import redis.asyncio as redis

from helpline.announcements.incident_flow import incident_action, resolve_all
from helpline.announcements.incidents import IncidentStore, match
from helpline.announcements.subscribers import (
    SUBSCRIBE_DATA,
    UNSUBSCRIBE_DATA,
    SubscriberStore,
    apply_subscription,
    subscription_command,
)
from helpline.routing import keys
from helpline.routing.models import EventType, MessageKind, OutboundReply, Status, utcnow
from tests.factories import build_router, message, parts, route_all


def tg(text: str, chat: int = 7001, kind: MessageKind = MessageKind.DIRECT) -> object:
    thread = f"chat:{chat}" if kind is MessageKind.DIRECT else f"chat:-100555:user:{chat}"
    return message(text, platform="telegram", account="bot", kind=kind, thread=thread, user=str(chat))


def test_subscription_commands_are_recognised_only_in_private_chats() -> None:
    assert subscription_command(tg("/subscribe")) == "subscribe"  # type: ignore[arg-type]
    assert subscription_command(tg("/SUBSCRIBE@helpline_bot")) == "subscribe"  # type: ignore[arg-type]
    assert subscription_command(tg("/start subscribe")) == "subscribe"  # type: ignore[arg-type]
    assert subscription_command(tg(SUBSCRIBE_DATA)) == "subscribe"  # type: ignore[arg-type]
    assert subscription_command(tg("/unsubscribe")) == "unsubscribe"  # type: ignore[arg-type]
    assert subscription_command(tg(UNSUBSCRIBE_DATA)) == "unsubscribe"  # type: ignore[arg-type]
    assert subscription_command(tg("please /subscribe me to withdrawals")) is None  # type: ignore[arg-type]
    assert subscription_command(tg("/subscribe", kind=MessageKind.GROUP)) is None  # type: ignore[arg-type]
    assert subscription_command(message("/subscribe")) is None  # another platform


async def test_subscribe_unsubscribe_round_trip_with_catalog_replies(r: redis.Redis) -> None:
    store = SubscriberStore(r)
    first = await apply_subscription(store, tg("/subscribe", chat=7001), "ko")  # type: ignore[arg-type]
    assert first is not None and first.changed and "구독" in first.text
    assert first.buttons[0].data == UNSUBSCRIBE_DATA
    again = await apply_subscription(store, tg(SUBSCRIBE_DATA, chat=7001), "en")  # type: ignore[arg-type]
    assert again is not None and not again.changed  # idempotent
    await apply_subscription(store, tg("/subscribe", chat=7002), "en")  # type: ignore[arg-type]
    assert await store.count("bot") == 2
    left = await apply_subscription(store, tg(UNSUBSCRIBE_DATA, chat=7001), "en")  # type: ignore[arg-type]
    assert left is not None and left.changed and left.buttons[0].data == SUBSCRIBE_DATA
    assert not await store.is_subscribed("bot", 7001) and await store.is_subscribed("bot", 7002)
    seen = [chat async for batch in store.scan("bot") for chat in batch]
    assert seen == [7002]


async def test_incident_match_words_languages_and_newest_first(r: redis.Redis) -> None:
    store = IncidentStore(r, cache_seconds=0)
    old = await store.open(keywords=["withdrawal"], link="https://status.example.com/1")
    new = await store.open(
        keywords=["withdrawal", "출금", "提现"], languages=["en", "ko", "zh"], link="https://status.example.com/2"
    )
    incidents = await store.open_incidents()
    assert match(incidents, message("my Withdrawal is stuck", language="en")) == new
    assert match(incidents, message("출금이 안 돼요", language="ko")) == new
    assert match(incidents, message("withdrawals are slow", language="ja")) is None  # a word, not a prefix
    assert match(incidents, message("withdrawal?", language="ja")) == old  # the newer one is en/ko/zh only
    await store.close(new.id, "sup")
    assert await store.match(message("提现失败", language="zh")) is None


async def test_matching_conversations_are_linked_answered_and_resolved_together(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p)
    incidents = IncidentStore(r, cache_seconds=0)
    incident = await incidents.open(
        keywords=["withdrawal"], link="https://x.com/helpline/status/99", title="ETH withdrawals delayed"
    )
    messages = [message("withdrawal pending for 2 hours", thread=f"t{i}", user=f"u{i}") for i in range(3)]
    messages.append(message("how do I change my email?", thread="t9", user="u9"))
    await p.bus.ingest(messages)
    await route_all(p, router)  # the router's incident hook labels, links and answers
    linked = []
    for m in messages:
        cid = await p.store.find_thread("null", "main", m.thread_key)
        assert cid is not None
        conv = await p.store.get(cid)
        assert conv is not None
        if f"incident:{incident.id}" in conv.labels:
            assert incident_action([incident], m, conv, "en") is None  # answered once, not again
            linked.append(conv.id)
    assert len(linked) == 3 and sorted(await incidents.conversations(incident.id)) == sorted(linked)
    conv = await p.store.get(linked[0])
    assert conv is not None and f"incident:{incident.id}" in conv.labels
    assert any(e.type is EventType.LINKED for e in await p.store.events(conv.id))

    def queued(cid: str) -> list[OutboundReply]:
        return [
            OutboundReply.model_validate_json(f[b"m"])
            for _, f in outbound[keys.conversation_partition(cid)]
            if json.loads(f[b"m"])["conversation_id"] == cid
        ]

    outbound = {q: await r.xrange(keys.outbound_stream(q, "null", "main")) for q in range(4)}
    replies = queued(linked[0])
    assert any("https://x.com/helpline/status/99" in rep.text for rep in replies)

    resolved = await resolve_all(
        p.store,
        incidents,
        incident.id,
        "Withdrawals are processed again. Thanks!",
        "agent:sam",
        assignments=p.assignments,
    )
    assert resolved == 3
    for cid in linked:
        c = await p.store.get(cid)
        assert c is not None and c.status is Status.RESOLVED
    outbound = {q: await r.xrange(keys.outbound_stream(q, "null", "main")) for q in range(4)}
    closing = [rep for cid in linked for rep in queued(cid) if rep.text.startswith("Withdrawals are processed")]
    assert len(closing) == 3 and all(rep.visibility.value == "private" for rep in closing)
    other = await p.store.get(await p.store.find_thread("null", "main", "t9") or "")
    assert other is not None and other.status is not Status.RESOLVED
    assert (
        await resolve_all(p.store, incidents, incident.id, "again", "agent:sam", assignments=p.assignments) == 0
    )  # idempotent
    assert (await incidents.get(incident.id)).state.value == "closed"
    assert incident.opened_at > utcnow() - timedelta(minutes=1)


async def test_resolve_all_frees_the_agents_slots_and_the_team_queue(r: redis.Redis) -> None:
    """An incident's resolution frees the agent of each conversation it resolves (and takes waiting
    ones out of their queue), as an agent's own resolve does: the agent takes the next one."""
    from helpline.routing.models import Agent, Presence

    p = parts(r)
    await p.assignments.upsert_agent(
        Agent(id="ana", name="Ana", teams=("support",), capacity=1, presence=Presence.ONLINE)
    )
    router = build_router(p, {})
    for thread, user in (("t1", "u1"), ("t2", "u2")):
        await p.bus.ingest([message("my withdrawal is stuck", thread=thread, user=user)])
        await route_all(p, router)
    first, waiting = [await p.store.find_thread("null", "main", t) for t in ("t1", "t2")]
    assert first is not None and waiting is not None
    assert await p.assignments.assigned_to(first) == "ana"
    assert [cid for cid, _ in await p.assignments.queued("support")] == [waiting]
    incidents = IncidentStore(r)
    incident = await incidents.open(keywords=["withdrawal"], link="https://status.example.com/1")
    for cid in (first, waiting):
        await incidents.link(incident.id, cid)

    assert await resolve_all(p.store, incidents, incident.id, "Fixed.", "agent:sam", assignments=p.assignments) == 2
    assert await p.assignments.assigned_to(first) is None
    assert await p.assignments.queued("support") == []
    assert {a.agent.id: a.load for a in await p.assignments.roster()} == {"ana": 0}
    for cid in (first, waiting):
        conv = await p.store.get(cid)
        assert conv is not None and conv.status is Status.RESOLVED and conv.assignee is None, conv
    contact = await p.store.contact("null:main:u1")
    assert contact is not None and contact.last_agent == "ana"  # the customer's next message prefers her
