"""Writers that decide on a read refuse or redo a decision another writer made stale: a console
action, a snooze's wake, taking a removed agent's conversations away, an incident's resolution.
Each test changes the conversation between the read and the commit (deterministically, by
wrapping the read) and checks the other writer's change stands."""

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
import redis.asyncio as redis

from helpline.announcements.incident_flow import resolve_all
from helpline.announcements.incidents import IncidentStore
from helpline.console import actions, assigning
from helpline.console.errors import Conflict
from helpline.console.roles import Principal, Role
from helpline.routing import keys
from helpline.routing.models import Agent, Conversation, EventType, Presence, Status, utcnow
from helpline.routing.store import Effects, to_ms
from tests.factories import Parts, build_router, message, parts, route_all, services

ANA = Principal(username="ana", role=Role.AGENT, name="Ana", teams=("support",))
SAM = Principal(username="sam", role=Role.SUPERVISOR, name="Sam", teams=("support",))


async def conversation(p: Parts, thread: str = "t1") -> Conversation:
    await p.bus.ingest([message("my withdrawal is stuck", thread=thread)])
    await route_all(p, build_router(p, {}))
    cid = await p.store.find_thread("null", "main", thread)
    assert cid is not None
    conv = await p.store.get(cid)
    assert conv is not None
    return conv


async def resolved_by_another(p: Parts, cid: str) -> None:
    """Another agent resolves the conversation (as `assigning.resolve` records it)."""
    now = utcnow()
    await p.store.commit(
        [
            Effects(cid)
            .set(
                status=Status.RESOLVED.value,
                resolved_at=to_ms(now),
                assignee="",
                queued_team="",
                snoozed_until="",
                resolved_by="agent:bo",
            )
            .touch()
        ],
        now,
    )


def after_first(call: Callable[..., Awaitable[object]], then: Callable[[], Awaitable[None]]) -> Callable[..., object]:
    """`call`, which runs `then` right after its first use (the other writer's moment)."""
    done = False

    async def wrapped(*args: object, **kwargs: object) -> object:
        nonlocal done
        result = await call(*args, **kwargs)
        if not done:
            done = True
            await then()
        return result

    return wrapped


async def test_pending_on_a_conversation_resolved_since_it_was_read_is_refused(r: redis.Redis) -> None:
    p = parts(r)
    svc = services(p)
    conv = await conversation(p)  # the agent's page shows it open
    await resolved_by_another(p, conv.id)
    with pytest.raises(Conflict, match="resolved"):
        await actions.set_pending(svc, ANA, conv, "waiting", until=utcnow() + timedelta(hours=1))
    after = await p.store.get(conv.id)
    assert after is not None and after.status is Status.RESOLVED
    assert not await r.zscore(keys.console_snoozed(), conv.id)
    assert not [e for e in await p.store.events(conv.id) if e.type is EventType.STATUS and e.actor == ANA.actor]


async def test_a_snooze_ending_does_not_reopen_a_conversation_resolved_after_the_wake_read_it(r: redis.Redis) -> None:
    p = parts(r)
    svc = services(p)
    conv = await conversation(p)
    until = utcnow() + timedelta(minutes=5)
    await actions.set_pending(svc, ANA, conv, "", until=until)
    p.store.get = after_first(p.store.get, lambda: resolved_by_another(p, conv.id))  # type: ignore[method-assign]
    assert await actions.wake_snoozed(svc, until + timedelta(seconds=1)) == []
    after = await p.store.get(conv.id)
    assert after is not None and after.status is Status.RESOLVED
    assert not [e for e in await p.store.events(conv.id) if e.reason == "snooze ended"]


async def test_a_removed_agents_conversation_resolved_meanwhile_is_not_handed_on(r: redis.Redis) -> None:
    p = parts(r)
    svc = services(p)
    for agent in ("ana", "bea"):
        await p.assignments.upsert_agent(
            Agent(id=agent, name=agent, teams=("support",), capacity=5, presence=Presence.ONLINE)
        )
    conv = await conversation(p)
    if conv.assignee != "ana":
        assert await assigning.assign(svc, SAM, conv, "ana", "hers")
    p.assignments.release = after_first(  # type: ignore[method-assign]
        p.assignments.release, lambda: resolved_by_another(p, conv.id)
    )
    assert await assigning.withdraw_agent(svc, SAM, "ana", "left the company") == []
    after = await p.store.get(conv.id)
    assert after is not None and after.status is Status.RESOLVED and after.assignee is None
    assert await p.assignments.assigned_to(conv.id) is None  # bea's slot was given back
    loads = {a.agent.id: a.load for a in await p.assignments.roster()}
    assert loads == {"bea": 0}
    handed = [e for e in await p.store.events(conv.id) if e.type is EventType.ASSIGNED and e.data.get("agent") == "bea"]
    assert not handed


async def test_an_incident_resolution_skips_a_conversation_resolved_after_it_was_read(r: redis.Redis) -> None:
    p = parts(r)
    conv = await conversation(p)
    incidents = IncidentStore(r)
    incident = await incidents.open(keywords=["withdrawal"], link="https://status.example.com/1")
    await incidents.link(incident.id, conv.id)
    p.store.messages = after_first(p.store.messages, lambda: resolved_by_another(p, conv.id))  # type: ignore[method-assign]
    assert await resolve_all(p.store, incidents, incident.id, "All fixed.", "agent:sam", assignments=p.assignments) == 0
    events = await p.store.events(conv.id)
    assert not [e for e in events if e.type is EventType.STATUS and e.actor == "agent:sam"]
    assert not [e for e in events if e.type is EventType.REPLY_QUEUED and "closing" in e.reason]
    assert (await incidents.get(incident.id)).state.value == "closed"


async def test_a_queued_conversation_resolved_while_an_agent_takes_it_is_not_handed_out(r: redis.Redis) -> None:
    from helpline.routing.queueing import fill_agent

    p = parts(r)
    conv = await conversation(p)  # nobody online: it waits in the team's queue
    assert [cid for cid, _ in await p.assignments.queued("support")] == [conv.id]
    await p.assignments.upsert_agent(
        Agent(id="ana", name="Ana", teams=("support",), capacity=2, presence=Presence.ONLINE)
    )
    p.assignments.take_for = after_first(  # type: ignore[method-assign]
        p.assignments.take_for, lambda: resolved_by_another(p, conv.id)
    )
    assert await fill_agent(p.store, p.assignments, "ana") == []
    after = await p.store.get(conv.id)
    assert after is not None and after.status is Status.RESOLVED and after.assignee is None
    assert await p.assignments.assigned_to(conv.id) is None
    assert {a.agent.id: a.load for a in await p.assignments.roster()} == {"ana": 0}
