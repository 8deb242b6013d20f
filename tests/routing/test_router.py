import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as redis

from helpline.bots.autoreply import AutoReplyBot
from helpline.bots.base import BotContext, BotDecision, BotReply, Handoff
from helpline.routing import keys
from helpline.routing.bus import Entry
from helpline.routing.models import Agent, EventType, MessageKind, OutboundReply, Presence, Status, Visibility
from helpline.routing.queueing import fill_agent
from helpline.routing.rules import Rule
from helpline.routing.scripts import CONFLICT
from helpline.routing.store import Effects, Routing, contact_id_of
from tests.factories import build_router, message, parts, route_all

ACK = {"en": "Thanks, we got it.", "ko": "접수되었습니다."}


async def outbound(r: redis.Redis, partitions: int = 4) -> list[OutboundReply]:
    out = []
    for p in range(partitions):
        for _, fields in await r.xrange(keys.outbound_stream(p, "null", "main")):
            out.append(OutboundReply.model_validate_json(fields[b"m"]))
    return out


async def test_messages_of_one_thread_form_one_conversation_in_order(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p, {})
    texts = [f"message {i}" for i in range(20)]
    await p.bus.ingest([message(t, thread="dm-1") for t in texts] + [message("other", thread="dm-2")])
    await route_all(p, router)
    cid = await p.store.find_thread("null", "main", "dm-1")
    assert cid is not None
    history = await p.store.messages(cid)
    assert [m.text for m in history] == texts
    conv = await p.store.get(cid)
    assert conv is not None and conv.message_count == 20 and conv.team == "support"
    assert await p.store.find_thread("null", "main", "dm-2") not in (None, cid)
    types = [e.type for e in await p.store.events(cid)]
    assert types[:2] == [EventType.CREATED, EventType.ROUTED]


async def test_redelivered_message_is_not_applied_twice(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p, {"ack": AutoReplyBot(ACK, name="ack", handoff=False)})
    p.settings.rules.append(Rule(name="all", set={"bot": "ack"}))
    m = message("hello")
    await p.bus.ingest([m])
    await route_all(p, router)
    # The platform delivers it again after the dedupe window: a new stream entry, same message.
    p1 = p.bus.partition("null", "main", "t1")
    await r.xadd(keys.inbound_stream(p1), {"m": m.model_dump_json()})
    await route_all(p, router)
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None
    assert len(await p.store.messages(cid)) == 1
    assert len(await outbound(r)) == 1
    assert [e.type for e in await p.store.events(cid)].count(EventType.REPLY_QUEUED) == 1


async def test_message_claimed_by_a_second_router_after_the_first_committed_is_skipped(r: redis.Redis) -> None:
    """Router A is slow; router B claims A's entry; A commits (acknowledging it); B must not redo
    the effects."""
    p = parts(r)
    router = build_router(p, {"ack": AutoReplyBot(ACK, name="ack", handoff=False)})
    p.settings.rules.append(Rule(name="all", set={"bot": "ack"}))
    await p.bus.ingest([message("hello")])
    stream = keys.inbound_stream(p.bus.partition("null", "main", "t1"))
    await r.xgroup_create(stream, keys.ROUTER_GROUP, id="0", mkstream=True)
    entries = await r.xreadgroup(keys.ROUTER_GROUP, "router-a", {stream: ">"})
    batch = [Entry(stream, i.decode(), f[b"m"]) for i, f in entries[0][1]]
    assert await router.handle_batch(batch) == {}  # A: applied, decided, committed and acknowledged
    assert (await r.xpending(stream, keys.ROUTER_GROUP))["pending"] == 0
    assert await router.handle_batch(batch) == {}  # B, holding the same entry
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None
    assert [e.type for e in await p.store.events(cid)].count(EventType.REPLY_QUEUED) == 1
    assert len(await outbound(r)) == 1


async def test_rules_set_priority_team_labels_and_bot(r: redis.Redis) -> None:
    p = parts(
        r,
        teams=[{"id": "support", "default": True}, {"id": "security"}],
        rules=[
            {
                "name": "hacked",
                "match": {"keywords": ["hacked", "해킹"]},
                "set": {"priority": "urgent", "team": "security", "labels": ["security"], "stop": True},
            },
            {"name": "korean to bot", "match": {"languages": ["ko"]}, "set": {"bot": "ack"}},
        ],
        bots={"ack": {"type": "autoreply", "texts": ACK}},
    )
    router = build_router(p, {"ack": AutoReplyBot(ACK, name="ack")})
    await p.bus.ingest(
        [
            message("my account was HACKED", thread="a"),
            message("계정이 해킹당했어요", thread="b", language="ko"),
            message("입금 문의", thread="c", language="ko"),
        ]
    )
    await route_all(p, router)
    a = await p.store.get(await p.store.find_thread("null", "main", "a") or "")
    b = await p.store.get(await p.store.find_thread("null", "main", "b") or "")
    c = await p.store.get(await p.store.find_thread("null", "main", "c") or "")
    assert a and a.priority.value == "urgent" and a.team == "security" and a.labels == ("security",)
    assert b and b.team == "security" and b.handler is None  # stop: the bot rule did not apply
    assert c and c.team == "support"
    routed = next(e for e in await p.store.events(c.id) if e.type is EventType.ROUTED)
    assert "korean to bot" in routed.reason
    # The acknowledgement bot answered in Korean and handed over.
    replies = [x for x in await outbound(r) if x.conversation_id == c.id]
    assert [x.text for x in replies] == [ACK["ko"]]
    assert EventType.HANDOFF in [e.type for e in await p.store.events(c.id)]


async def test_business_hours_rule(r: redis.Redis) -> None:
    p = parts(
        r,
        teams=[
            {"id": "support", "default": True, "hours": {"timezone": "Asia/Seoul", "weekly": {"mon": ["09:00-18:00"]}}}
        ],
        rules=[{"name": "after hours", "match": {"hours": "closed"}, "set": {"labels": ["after-hours"]}}],
    )
    from helpline.routing.rules import decide

    monday_10_kst = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    monday_20_kst = monday_10_kst + timedelta(hours=10)
    m = message()
    assert decide(p.settings.rules, m, monday_10_kst, p.settings.hours, "support").labels == ()
    assert decide(p.settings.rules, m, monday_20_kst, p.settings.hours, "support").labels == ("after-hours",)


async def agent(
    p,
    agent_id: str,
    capacity: int = 1,
    languages: tuple[str, ...] = (),  # type: ignore[no-untyped-def]
    presence: Presence = Presence.ONLINE,
) -> None:
    await p.assignments.upsert_agent(
        Agent(id=agent_id, name=agent_id, teams=("support",), capacity=capacity, languages=languages, presence=presence)
    )


async def test_assignment_capacity_language_queue_and_release(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p, {})
    await agent(p, "kim", capacity=1, languages=("ko",))
    await agent(p, "amy", capacity=1, languages=("en",))
    await p.bus.ingest(
        [
            message("입금", thread="k1", language="ko", user="k1"),
            message("deposit", thread="e1", user="e1"),
            message("withdrawal", thread="e2", user="e2"),
        ]
    )
    await route_all(p, router)
    k1 = await p.store.get(await p.store.find_thread("null", "main", "k1") or "")
    e1 = await p.store.get(await p.store.find_thread("null", "main", "e1") or "")
    e2 = await p.store.get(await p.store.find_thread("null", "main", "e2") or "")
    assert k1 and k1.assignee == "kim"
    assert e1 and e1.assignee == "amy"
    assert e2 and e2.assignee is None  # amy is full, kim does not speak English
    assert [e.type for e in await p.store.events(e2.id)][-1] is EventType.QUEUED
    assert await p.assignments.queued("support") == [(e2.id, "en")]
    # amy frees a slot: the waiting conversation is hers at once
    assert await p.assignments.release(e1.id) == "amy"
    assert await fill_agent(p.store, p.assignments, "amy") == [e2.id]
    e2 = await p.store.get(e2.id)
    assert e2 and e2.assignee == "amy"
    assert await p.assignments.queued("support") == []


async def test_queue_order_is_priority_then_age_and_agent_coming_online_takes_it(r: redis.Redis) -> None:
    p = parts(r, rules=[{"name": "vip", "match": {"keywords": ["urgent"]}, "set": {"priority": "high"}}])
    router = build_router(p, {})
    await agent(p, "amy", capacity=5, presence=Presence.OFFLINE)
    await p.bus.ingest([message("first", thread="a", user="a")])
    await route_all(p, router)
    await p.bus.ingest([message("urgent please", thread="b", user="b")])
    await route_all(p, router)
    order = [cid for cid, _ in await p.assignments.queued("support")]
    b = await p.store.find_thread("null", "main", "b")
    a = await p.store.find_thread("null", "main", "a")
    assert order == [b, a]
    await p.assignments.set_presence("amy", Presence.ONLINE)
    assert await fill_agent(p.store, p.assignments, "amy") == [b, a]


async def test_sticky_to_the_agent_who_last_served_the_contact(r: redis.Redis) -> None:
    p = parts(r, pipeline={"quiet_period_hours": 0})
    router = build_router(p, {})
    await agent(p, "amy", capacity=5)
    await agent(p, "bob", capacity=5)
    await p.bus.ingest([message("hi", thread="x", user="carol")])
    await route_all(p, router)
    first = await p.store.get(await p.store.find_thread("null", "main", "x") or "")
    assert first is not None and first.assignee is not None
    # bob/amy take more work so least-loaded would pick the other one next
    await p.bus.ingest([message("other", thread="y", user="dave")])
    await route_all(p, router)
    # carol writes on a new thread: she goes back to her agent
    await p.bus.ingest([message("me again", thread="x2", user="carol")])
    await route_all(p, router)
    again = await p.store.get(await p.store.find_thread("null", "main", "x2") or "")
    assert again is not None and again.assignee == first.assignee
    assert any("sticky" in e.reason for e in await p.store.events(again.id))


async def test_the_contacts_last_agent_is_written_only_by_a_commit_that_applied(r: redis.Redis) -> None:
    """The hint lives in another cluster slot than the commit (`ConversationStore.commit`): it is
    written after it. A commit refused because another writer changed the conversation between
    the decision and the commit leaves the contact's hint as it was; the decision made again
    commits, and then the hint names the agent the conversation was given."""
    p = parts(r)
    router = build_router(p, {})
    await agent(p, "amy", capacity=5)
    contact = contact_id_of("null", "main", "carol")
    await p.store.remember_agent(contact, "bob")  # bob served carol once; he is not on the roster now
    commit = p.store.commit
    hints_after_refused: list[bytes | None] = []

    async def a_console_write_comes_first(effects: Any, now: datetime, fences: Any = None) -> list[int]:
        items = list(effects)
        cid = await p.store.find_thread("null", "main", "x")
        first = not hints_after_refused and any(e.conversation_id == cid for e in items)
        if first and cid is not None:  # the console's own commit goes through unchanged
            p.store.commit = commit  # type: ignore[method-assign]
            await p.store.update(cid, lambda c: Effects(cid).labels(add=["vip"]).touch(), now)
            p.store.commit = a_console_write_comes_first  # type: ignore[method-assign]
        results = await commit(items, now, fences)
        if first:
            assert [code for e, code in zip(items, results, strict=True) if e.conversation_id == cid] == [CONFLICT]
            hints_after_refused.append(await r.hget(keys.contact(contact), "last_agent"))  # type: ignore[misc]
        return results

    p.store.commit = a_console_write_comes_first  # type: ignore[method-assign]
    await p.bus.ingest([message("hi", thread="x", user="carol")])
    await route_all(p, router)
    assert hints_after_refused == [b"bob"]  # the refused commit gave carol no new agent
    conv = await p.store.get(await p.store.find_thread("null", "main", "x") or "")
    assert conv is not None and conv.assignee == "amy" and "vip" in conv.labels
    assert await r.hget(keys.contact(contact), "last_agent") == b"amy"  # type: ignore[misc]


class PrivateMinded:
    """A bot that tries to answer privately: on a public thread that must become an explicit
    private follow-up, never a private reply in the public thread."""

    name = "pm"

    async def handle(self, ctx: BotContext) -> BotDecision:
        return BotDecision(
            replies=(BotReply("public part"), BotReply("private part", private=True)), handoff=Handoff("done")
        )


async def test_a_direct_message_never_gets_a_public_reply(r: redis.Redis) -> None:
    p = parts(
        r, rules=[{"name": "bot", "set": {"bot": "pm"}}], bots={"pm": {"type": "autoreply", "texts": {"en": "x"}}}
    )
    router = build_router(p, {"pm": PrivateMinded()})
    await p.bus.ingest(
        [
            message("dm", kind=MessageKind.DIRECT, thread="dm"),
            message("@us help", kind=MessageKind.MENTION, thread="tweet"),
        ]
    )
    await route_all(p, router)
    replies = await outbound(r)
    dm = await p.store.find_thread("null", "main", "dm")
    for reply in replies:
        if reply.conversation_id == dm:
            assert reply.visibility is Visibility.PRIVATE and reply.kind is MessageKind.DIRECT
    public = [x for x in replies if x.conversation_id != dm]
    assert {(x.text, x.visibility) for x in public} == {
        ("public part", Visibility.PUBLIC),
        ("private part", Visibility.PRIVATE),
    }
    private = next(x for x in public if x.visibility is Visibility.PRIVATE)
    assert private.kind is MessageKind.DIRECT and private.thread_key.startswith("user:")


def test_reply_model_refuses_public_visibility_on_a_direct_thread() -> None:
    with pytest.raises(ValueError, match="refused"):
        OutboundReply(
            reply_id="r",
            conversation_id="0-1",
            platform="x",
            account="a",
            kind=MessageKind.DIRECT,
            thread_key="dm",
            visibility=Visibility.PUBLIC,
            text="hi",
            sender="bot:x",
        )


async def test_resolved_thread_reopens_inside_quiet_period_and_starts_anew_after(r: redis.Redis) -> None:
    p = parts(r, pipeline={"quiet_period_hours": 1})
    router = build_router(p, {})
    await p.bus.ingest([message("one", thread="q")])
    await route_all(p, router)
    cid = await p.store.find_thread("null", "main", "q") or ""
    await r.hset(keys.conversation(cid), mapping={"status": "resolved"})
    await p.bus.ingest([message("two", thread="q")])
    await route_all(p, router)
    conv = await p.store.get(cid)
    assert conv and conv.status is Status.OPEN and conv.message_count == 2
    assert EventType.REOPENED in [e.type for e in await p.store.events(cid)]
    two_hours_ago = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1000)
    await r.hset(keys.conversation(cid), mapping={"status": "resolved", "updated_at": two_hours_ago})
    await p.bus.ingest([message("three", thread="q")])
    await route_all(p, router)
    new = await p.store.find_thread("null", "main", "q")
    assert new is not None and new != cid
    assert [m.text for m in await p.store.messages(new)] == ["three"]


async def test_invalid_inbound_payload_is_dead_lettered_with_its_reason(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p, {})
    await r.xadd(keys.inbound_stream(0), {"m": '{"platform": "x"}'})
    await p.bus.ingest([message("fine", thread="t")])
    await route_all(p, router)
    dead = await r.xrange(keys.dead_letters(0))
    assert len(dead) == 1 and b"invalid inbound message" in dead[0][1][b"error"]
    assert await p.store.find_thread("null", "main", "t") is not None


async def test_a_thread_key_with_a_control_character_is_dead_lettered_not_misrouted(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p, {})
    bad = message("hi", thread="t").model_dump(mode="json") | {"thread_key": "t\x1fspoofed"}
    await r.xadd(keys.inbound_stream(0), {"m": json.dumps(bad)})
    await route_all(p, router)
    dead = await r.xrange(keys.dead_letters(0))
    assert len(dead) == 1 and b"thread_key" in dead[0][1][b"error"]
    assert await p.store.recent() == []


async def test_a_batch_larger_than_lua_can_unpack_at_once_is_routed_and_acknowledged(r: redis.Redis) -> None:
    """9,000 messages of one partition in one read: the scripts chunk their variadic commands."""
    p = parts(r, redis={"url": "redis://unused", "partitions": 1}, pipeline={"batch_size": 10_000})
    router = build_router(p, {"ack": AutoReplyBot(ACK, name="ack", handoff=False)})
    p.settings.rules.append(Rule(name="all", set={"bot": "ack"}))
    await p.bus.ingest([message(f"question {i}", thread=f"t{i}") for i in range(9_000)])
    await route_all(p, router, rounds=1)
    assert await r.zcard(keys.conversations_by_update(0)) == 9_000
    assert (await r.xpending(keys.inbound_stream(0), keys.ROUTER_GROUP))["pending"] == 0
    assert len(await outbound(r, partitions=1)) == 9_000


async def test_a_conversation_exists_with_its_team_from_the_moment_it_is_threaded(r: redis.Redis) -> None:
    """Between threading and the commit, the console may already load the conversation: the agents
    of its team must be able to see it then (the rules' verdict is written at creation)."""
    p = parts(r)
    m = message("vip: my withdrawal", thread="vip-1")
    routing = Routing("high", "vip", "", '["vip"]')
    [applied] = await p.store.apply_messages([(m, "1700000000000-0", m.wire_json(), routing)], datetime.now(UTC))
    conv = await p.store.get(applied.conversation_id)
    assert conv is not None and (conv.team, conv.priority.value, conv.labels) == ("vip", "high", ("vip",))
    assert applied.fields["routed"] == "0"  # the router's commit marks it routed, with its events


async def test_a_customer_starting_several_conversations_in_a_batch_is_written_once(r: redis.Redis) -> None:
    p = parts(r)
    router = build_router(p, {})
    await p.bus.ingest([message(f"question {i}", thread=f"subject-{i}") for i in range(4)])
    await r.config_resetstat()
    await route_all(p, router)
    stats = await r.info("commandstats")
    assert int(stats["cmdstat_persist"]["calls"]) == 1  # once for the contact, not once per conversation
    contact = await r.hgetall(keys.contact("null:main:u1"))
    assert contact[b"handle"] == b"@u1" and contact[b"language"] == b"en"
    assert len({await p.store.find_thread("null", "main", f"subject-{i}") for i in range(4)}) == 4
