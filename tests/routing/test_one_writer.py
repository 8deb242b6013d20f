"""One writer of conversations: concurrent changes from the router, an agent, the SLA engine and
assignment all land, however they interleave; a decision made on a stale read is made again."""

import asyncio
import random
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from helpline.bots.base import BotContext, BotDecision, BotReply
from helpline.console import actions, assigning
from helpline.console.roles import Principal, Role
from helpline.insights.escalation import WARNING_LABEL, SlaEngine
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.settings import Target
from helpline.insights.sla import SlaClock
from helpline.routing import keys
from helpline.routing.models import Agent, EventType, Presence, Priority, Status
from helpline.routing.outbound import reply_to
from helpline.routing.rules import Rule
from helpline.routing.scripts import CONFLICT, DONE, MISSING
from helpline.routing.store import ConversationStore, Effects
from tests.factories import Parts, build_router, message, parts, private_conversation, route_all, services

AGENT = Principal(username="ana", role=Role.AGENT, name="Ana", teams=("support",))


class SlowBot:
    """Answers and labels after a random pause: the others write while its decision is in flight."""

    name = "slow"

    async def handle(self, ctx: BotContext) -> BotDecision:
        await asyncio.sleep(random.uniform(0, 0.004))
        return BotDecision(replies=(BotReply(f"answer to {ctx.message.message_id}"),), labels=("bot-label",))


def clock(instance: str) -> SlaClock:
    now = datetime.now(UTC)
    return SlaClock(
        policy="std",
        target=Target.FIRST_RESPONSE,
        instance=instance,
        started_at=now,
        due_at=now,
        warn_at=now,
        percent_elapsed=90.0,
        breached=False,
        business_hours=False,
    )


async def one_race(r: redis.Redis, p: Parts, run: int) -> None:
    await r.flushdb()
    await p.assignments.upsert_agent(
        Agent(id="ana", name="Ana", teams=("support",), capacity=5, presence=Presence.ONLINE)
    )
    router = build_router(p, {"slow": SlowBot()})
    thread = f"race-{run}"
    await p.bus.ingest([message("first", thread=thread)])
    await route_all(p, router)
    cid = await p.store.find_thread("null", "main", thread)
    assert cid is not None
    conv = await p.store.get(cid)
    assert conv is not None and conv.handler == "bot:slow"
    second = message("second", thread=thread)
    await p.bus.ingest([second])
    svc = services(p)
    sla = SlaEngine(r, InsightsRecorder(r), [], {}, p.store)
    racers = [
        route_all(p, router),
        actions.change_labels(svc, AGENT, conv, ["vip"], [], "an agent's label"),
        sla._warn(cid, clock(f"i{run}"), int(datetime.now(UTC).timestamp() * 1000)),
        assigning.assign(svc, AGENT, conv, "ana", "taken"),
    ]
    random.shuffle(racers)
    await asyncio.gather(*racers)

    final = await p.store.get(cid)
    assert final is not None
    assert {"bot-label", "vip", WARNING_LABEL} <= set(final.labels), (run, final.labels)
    assert final.priority is Priority.HIGH, run  # raised once, from normal
    assert final.assignee == "ana", run
    events = await p.store.events(cid)
    answers = [
        e for e in events if e.type is EventType.REPLY_QUEUED and e.data.get("text") == f"answer to {second.message_id}"
    ]
    assert len(answers) == 1, (run, events)
    assert len([e for e in events if e.type is EventType.LABELS and e.actor == "agent:ana"]) == 1
    assert len([e for e in events if e.type is EventType.PRIORITY and e.actor == "system:sla"]) == 1
    assert len([e for e in events if e.type is EventType.ASSIGNED]) == 1
    p_in = keys.conversation_partition(cid)
    assert (await r.xpending(keys.inbound_stream(p_in), keys.ROUTER_GROUP))["pending"] == 0


async def test_router_agent_sla_and_assignment_race_without_losing_a_change(r: redis.Redis) -> None:
    p = parts(r)
    p.settings.rules.append(Rule(name="all", set={"bot": "slow"}))
    for run in range(100):
        await one_race(r, p, run)


async def test_a_change_decided_on_a_stale_read_is_refused_and_nothing_of_it_written(r: redis.Redis) -> None:
    p = parts(r)
    await p.bus.ingest([message("hello")])
    await route_all(p, build_router(p, {}))
    cid = await p.store.find_thread("null", "main", "t1")
    assert cid is not None
    read = await p.store.get(cid)
    assert read is not None
    now = datetime.now(UTC)
    assert (await p.store.commit([Effects(cid).labels(add=["a"])], now)) == [0]  # another writer
    stale = Effects(cid).expect_version(read.version).set(priority="urgent").labels(add=["b"])
    assert await p.store.commit([stale], now) == [CONFLICT]
    after = await p.store.get(cid)
    assert after is not None and after.labels == ("a",) and after.priority is Priority.NORMAL
    assert after.version == read.version + 1
    assert await p.store.commit([Effects(cid).once("marker").labels(add=["c"])], now) == [0]
    assert await p.store.commit([Effects(cid).once("marker").labels(add=["d"])], now) == [DONE]
    assert await p.store.commit([Effects("0-999").expect_exists().labels(add=["x"])], now) == [MISSING]
    assert not await r.exists(keys.conversation("0-999"))
    # the version guard raises the version as its check: refused, nothing of it is left behind
    assert await p.store.commit([Effects("0-999").expect_version(3).labels(add=["x"])], now) == [CONFLICT]
    assert not await r.exists(keys.conversation("0-999"))
    labels_after = await p.store.get(cid)
    assert labels_after is not None and labels_after.labels == ("a", "c")
    assert await p.store.commit([Effects(cid).labels(remove=["a", "zzz"])], now) == [0]
    cleared = await p.store.get(cid)
    assert cleared is not None and cleared.labels == ("c",)


async def test_a_commit_checks_the_version_and_orders_its_replies_in_few_commands(r: redis.Redis) -> None:
    store = ConversationStore(r, 4)
    now = datetime.now(UTC)

    def replying(cid: str, version: int, text: str) -> Effects:
        conv = private_conversation(cid)
        reply = reply_to(conv, reply_id=f"{cid}:{text}", text=text, sender="bot", in_reply_to="m1", recipient_id="u1")
        return Effects(cid).expect_version(version).reply(reply, 1)

    await r.config_resetstat()
    assert await store.commit([replying(f"1-{i}", 0, "a") for i in range(20)], now) == [1] * 20
    stats = await r.info("commandstats")
    # one HINCRBY per item both checks and raises the version (no HGET); the partition's reply
    # counter is read and written once per call (no INCR per reply)
    assert "cmdstat_hget" not in stats and "cmdstat_incr" not in stats, stats
    assert int(stats["cmdstat_hincrby"]["calls"]) == 20
    assert (await r.get(keys.reply_seq(1))) == b"20"
    # a second call and a second reply of a conversation come after the first ones
    assert await store.commit([replying("1-3", 1, "b"), replying("1-0", 0, "stale")], now) == [1, CONFLICT]
    assert await r.zrange(keys.reply_order("1-3"), 0, -1, withscores=True) == [
        (keys.delivery(1, "1-3:a").encode(), 4.0),
        (keys.delivery(1, "1-3:b").encode(), 21.0),
    ]
    assert await r.hget(keys.conversation("1-0"), "version") == b"1"  # the stale item put it back  # type: ignore[misc]
    assert not await r.exists(keys.delivery(1, "1-0:stale"))


async def test_field_sets_in_a_row_are_one_write(r: redis.Redis) -> None:
    store = ConversationStore(r, 4)
    now = datetime.now(UTC)
    await r.config_resetstat()
    effects = Effects("1-1").set(routed="1").set(handler="bot:ack", team="").set(priority="high", handler="")
    assert await store.commit([effects], now) == [0]
    assert int((await r.info("commandstats"))["cmdstat_hset"]["calls"]) == 1
    assert await r.hmget(keys.conversation("1-1"), ["routed", "handler", "priority"]) == [b"1", b"", b"high"]  # type: ignore[misc]
    apart = Effects("1-1").set(priority="low").labels(add=["x"]).set(priority="urgent")
    assert await store.commit([apart], now) == [0]
    assert await r.hget(keys.conversation("1-1"), "priority") == b"urgent"  # type: ignore[misc]


async def later(work: Awaitable[object], within: float = 0.006) -> None:
    """Start after a random pause: each writer reads and commits at a different moment every run."""
    await asyncio.sleep(random.uniform(0, within))
    await work


BILLING_AGENT = Agent(id="bea", name="Bea", teams=("billing",), capacity=5, presence=Presence.ONLINE)


async def console_race(r: redis.Redis, p: Parts, run: int, action: str) -> None:
    """The router's commit (the customer writes again), an agent's label, an SLA escalation and a
    console action (resolve, reopen, transfer, assign, snooze) on one conversation, in any order."""
    await r.flushdb()
    await p.assignments.upsert_agent(
        Agent(id="ana", name="Ana", teams=("support",), capacity=5, presence=Presence.ONLINE)
    )
    await p.assignments.upsert_agent(BILLING_AGENT)
    router = build_router(p, {"slow": SlowBot()})
    svc = services(p)
    thread = f"console-race-{run}"
    await p.bus.ingest([message("first", thread=thread)])
    await route_all(p, router)
    cid = await p.store.find_thread("null", "main", thread)
    assert cid is not None
    if action == "reopen":  # resolved before the customer writes again
        first = await p.store.get(cid)
        assert first is not None and await assigning.resolve(svc, AGENT, first, "done")
    conv = await p.store.get(cid)
    assert conv is not None
    second = message("second", thread=thread)
    await p.bus.ingest([second])
    acts = {
        "resolve": lambda: assigning.resolve(svc, AGENT, conv, "solved"),
        "reopen": lambda: assigning.reopen(svc, AGENT, conv, "not solved"),
        "transfer": lambda: assigning.transfer_to_team(svc, AGENT, conv, "billing", "a billing question"),
        "assign": lambda: assigning.assign(svc, AGENT, conv, "ana", "taken"),
        "snooze": lambda: actions.set_pending(
            svc, AGENT, conv, "asked for the TXID", until=datetime.now(UTC) + timedelta(hours=1)
        ),
    }
    sla = SlaEngine(r, InsightsRecorder(r), [], {}, p.store)
    await asyncio.gather(
        later(route_all(p, router)),
        later(actions.change_labels(svc, AGENT, conv, ["vip"], [], "an agent's label")),
        later(sla._warn(cid, clock(f"c{run}"), int(datetime.now(UTC).timestamp() * 1000))),
        later(acts[action](), 0.02),  # its read is older still: before, during or after the router's turn
    )

    final = await p.store.get(cid)
    assert final is not None
    where = (run, action)
    assert {"bot-label", "vip", WARNING_LABEL} <= set(final.labels), (where, final.labels)
    assert final.priority is Priority.HIGH, where
    events = await p.store.events(cid)
    answers = [
        e for e in events if e.type is EventType.REPLY_QUEUED and e.data.get("text") == f"answer to {second.message_id}"
    ]
    assert len(answers) == 1, (where, events)
    assert len([e for e in events if e.type is EventType.LABELS and e.actor == "agent:ana"]) == 1, where
    assert len([e for e in events if e.type is EventType.PRIORITY and e.actor == "system:sla"]) == 1, where
    # the agent's slot and the conversation agree, whoever wrote last
    assert await p.assignments.assigned_to(cid) == final.assignee, (where, final)
    if action == "resolve":
        resolved = [e for e in events if e.type is EventType.STATUS and e.data.get("status") == "resolved"]
        assert len(resolved) == 1, (where, events)
    elif action == "reopen":
        assert final.status is Status.OPEN, where
        assert len([e for e in events if e.type is EventType.REOPENED]) == 1, (where, events)  # once, by one
    elif action == "transfer":
        assert final.team == "billing" and final.assignee == "bea", (where, final)
    elif action == "snooze":  # pending, or open again if the customer's message came after it
        snoozed = [e for e in events if e.type is EventType.STATUS and e.data.get("status") == "pending"]
        assert len(snoozed) == 1 and final.status in (Status.PENDING, Status.OPEN), (where, events)
    else:
        assert final.assignee == "ana", where
    p_in = keys.conversation_partition(cid)
    assert (await r.xpending(keys.inbound_stream(p_in), keys.ROUTER_GROUP))["pending"] == 0


async def test_console_actions_race_the_router_and_the_sla_without_losing_a_change(r: redis.Redis) -> None:
    p = parts(r, teams=[{"id": "support", "default": True}, {"id": "billing"}])
    p.settings.rules.append(Rule(name="all", set={"bot": "slow"}))
    for run in range(100):
        await console_race(r, p, run, ("resolve", "reopen", "transfer", "assign", "snooze")[run % 5])
