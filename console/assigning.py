"""Who works on a conversation: assign or transfer to an agent or a team, resolve (which frees
the agent's slot so the queue moves), reopen, and agents' presence.

Slots are the routing AssignmentStore's: release, then claim (which re-checks presence and
capacity atomically). A freed slot is offered at once to the team queue via `fill_agent`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from helpline.bots.catalog import default_catalog
from helpline.bots.survey import queue_survey
from helpline.routing import keys
from helpline.routing.assignment import AgentLoad, choose_agent
from helpline.routing.decode import as_text
from helpline.routing.models import Conversation, EventType, Presence, Status, utcnow
from helpline.routing.queueing import fill_agent
from helpline.routing.store import Effects, to_ms

from . import live
from .actions import event, update
from .errors import Conflict, Forbidden, Invalid, NotFound
from .roles import Principal
from .services import Services


async def roster(svc: Services) -> dict[str, AgentLoad]:
    return {a.agent.id: a for a in await svc.assignments.roster()}


async def _refill(svc: Services, agent_id: str | None) -> None:
    """The agent has a free slot: hand them the next waiting conversation."""
    if agent_id:
        taken = await fill_agent(svc.store, svc.assignments, agent_id)
        await live.publish(svc.client, taken)


async def assign(svc: Services, who: Principal, conv: Conversation, target: str | None, reason: str) -> bool:
    """Give the conversation to `target` (default: the caller). Idempotent: assigning to the
    current assignee changes nothing. Refused (Conflict) if the agent is offline or full."""
    target = target or who.username
    entry = (await roster(svc)).get(target)
    if entry is None:
        raise Invalid(f"agent_id: no agent {target!r}")
    if target != who.username and not who.manages and not _same_team(conv, who, entry.agent.teams):
        raise Forbidden(
            f"agent_id: {target} is not in this conversation's team; only a supervisor may "
            "hand it to another team's agent (or transfer it to that team)"
        )
    assignments = svc.assignments
    if conv.assignee == target and await assignments.assigned_to(conv.id) == target:
        return False
    if entry.agent.presence is not Presence.ONLINE:
        raise Conflict(f"{target} is {entry.agent.presence.value}; only an online agent can take a conversation")
    if entry.free <= 0:
        raise Conflict(f"{target} is at capacity ({entry.load}/{entry.agent.capacity})")
    previous = await assignments.release(conv.id)
    if await assignments.claim(conv.id, target) != target:
        if previous:  # the target filled up meanwhile: give it back rather than leave it nowhere
            await assignments.claim(conv.id, previous)
        raise Conflict(f"{target} could not take it (went offline or filled up); try again")
    await _leave_queue(svc, conv)
    now = utcnow()
    why = reason or ("taken by the agent" if target == who.username else f"assigned by {who.username}")

    def decide(current: Conversation) -> Effects:
        return (
            Effects(conv.id)
            .set(assignee=target, queued_team="")
            .event(
                event(current, EventType.ASSIGNED, who, why, now, agent=target, previous=current.assignee or previous)
            )
            .touch()
        )

    await update(svc, conv.id, decide, now, by=who)
    await svc.store.remember_agent(conv.contact_id, target)
    if previous and previous != target:
        await _refill(svc, previous)
    return True


def _same_team(conv: Conversation, who: Principal, teams: tuple[str, ...]) -> bool:
    """An agent hands a conversation only within its team (or, without one, within their own)."""
    return conv.team in teams if conv.team else bool(set(who.teams) & set(teams))


async def _leave_queue(svc: Services, conv: Conversation) -> None:
    """Out of the team queue it waits in (if any): it has an agent, or is closed, or moves."""
    raw = await svc.client.hget(keys.conversation(conv.id), "queued_team")  # type: ignore[misc]
    if raw:
        await svc.assignments.dequeue(raw.decode(), conv.id)


@dataclass(frozen=True)
class Placement:
    """Where `_place` put a conversation: an agent took it, or it waits in the team's queue."""

    team: str
    why: str
    agent_id: str | None


async def _place(svc: Services, conv: Conversation, team: str, why: str) -> Placement:
    """Give the conversation to an online agent of `team`, or else to the team's queue (a slot is
    claimed here; the queue entry and the conversation are written by the caller's commit, `_placed`)."""
    contact = await svc.store.contact(conv.contact_id)
    choice = choose_agent(
        list((await roster(svc)).values()), team, conv.language, contact.last_agent if contact else None
    )
    agent_id = await svc.assignments.claim(conv.id, choice.agent_id) if choice.agent_id else None
    return Placement(team, f"{why}; {choice.reason}", agent_id)


def _placed(effects: Effects, current: Conversation, placement: Placement, who: Principal, now: datetime) -> Effects:
    """The placement, recorded in the conversation (pure: part of a decision)."""
    if placement.agent_id is not None:
        effects.remember_agent(current.contact_id, placement.agent_id)  # once committed
        return effects.set(assignee=placement.agent_id, queued_team="").event(
            event(current, EventType.ASSIGNED, who, placement.why, now, agent=placement.agent_id, team=placement.team)
        )
    return (
        effects.set(assignee="")
        .queue(placement.team, current.language, current.priority, to_ms(current.created_at))
        .event(
            event(
                current, EventType.QUEUED, who, placement.why, now, team=placement.team, priority=current.priority.value
            )
        )
    )


async def transfer_to_team(svc: Services, who: Principal, conv: Conversation, team: str, reason: str) -> None:
    """Move the conversation to another team: its agent (if any) is freed, an agent of the new
    team takes it or it waits in that team's queue."""
    if svc.teams and team not in svc.teams:
        raise Invalid(f"team: no team {team!r} (known: {', '.join(svc.teams)})")
    previous = await svc.assignments.release(conv.id)
    await _leave_queue(svc, conv)
    now = utcnow()
    moved = conv.model_copy(update={"team": team, "assignee": None})
    placement = await _place(svc, moved, team, reason or f"transferred to team {team} by {who.username}")

    def decide(current: Conversation) -> Effects:
        return _placed(Effects(conv.id).set(team=team, assignee=""), current, placement, who, now).touch()

    await update(svc, conv.id, decide, now, by=who)
    await _refill(svc, previous)


async def resolve(svc: Services, who: Principal, conv: Conversation, reason: str) -> bool:
    """Resolved: the agent's slot is freed and offered to the queue. The contact remembers the
    agent, so if the customer writes again the router prefers them. Idempotent, also when
    another writer resolved it first (decided on the conversation as it is at the commit)."""
    if conv.status is Status.RESOLVED:
        return False
    previous = await svc.assignments.release(conv.id)
    await _leave_queue(svc, conv)
    now = utcnow()
    survey = await _survey(svc, conv, now)

    def decide(current: Conversation) -> Effects | None:
        if current.status is Status.RESOLVED:
            return None
        effects = (
            Effects(conv.id)
            .set(
                status=Status.RESOLVED.value,
                resolved_at=to_ms(now),
                resolved_by=who.actor,
                assignee="",
                queued_team="",
                snoozed_until="",
            )
            .event(
                event(
                    current,
                    EventType.STATUS,
                    who,
                    reason or "resolved by the agent",
                    now,
                    status=Status.RESOLVED.value,
                    agent=current.assignee,
                )
            )
            .touch()
        )
        if survey is not None:
            survey(effects, current)
        return effects

    read = await update(svc, conv.id, decide, now, by=who)
    await svc.client.zrem(keys.console_snoozed(), conv.id)
    last = previous or (read.assignee if read else conv.assignee)
    if last:
        await svc.store.remember_agent(conv.contact_id, last)
    await _refill(svc, previous)
    return read is not None


async def _survey(svc: Services, conv: Conversation, now: datetime) -> Callable[[Effects, Conversation], None] | None:
    """How a resolution asks the customer for a 1-5 rating, once (see bots.survey); None when it
    does not (surveys off, already asked, nothing to answer)."""
    store = svc.store
    if not svc.settings.survey.enabled:
        return None
    if await store.client.hget(keys.conversation(conv.id), "survey"):  # type: ignore[misc]
        return None
    messages = await store.messages(conv.id)
    if not messages:
        return None
    last = messages[-1]
    language = conv.language or svc.settings.languages.default

    def ask(effects: Effects, current: Conversation) -> None:
        queue_survey(
            effects,
            current,
            language=language,
            catalog=default_catalog(),
            in_reply_to=last.message_id,
            recipient_id=last.author.user_id,
            now=now,
        )

    return ask


async def reopen(svc: Services, who: Principal, conv: Conversation, reason: str) -> bool:
    """Open again. Without an assignee it goes to the caller if they are an online agent with
    room, else to an agent of its team or the team's queue. Idempotent, also when the customer
    reopened it first by writing (the router then places it)."""
    if conv.status is Status.OPEN:
        return False
    now = utcnow()

    def decide(current: Conversation) -> Effects | None:
        if current.status is Status.OPEN:
            return None
        return (
            Effects(conv.id)
            .set(status=Status.OPEN.value, resolved_at="", snoozed_until="")
            .event(event(current, EventType.REOPENED, who, reason or "reopened by the agent", now))
            .touch()
        )

    read = await update(svc, conv.id, decide, now, by=who)
    if read is None:
        return False
    await svc.client.zrem(keys.console_snoozed(), conv.id)
    if read.assignee is None and not read.handler:
        await _take_or_place(svc, who, read, now)
    return True


async def _take_or_place(svc: Services, who: Principal, conv: Conversation, now: datetime) -> None:
    """A reopened conversation without an agent: the caller keeps it if they are an online agent
    with room, else an agent of its team or its queue."""
    mine = (await roster(svc)).get(who.username)
    if (
        mine
        and mine.agent.presence is Presence.ONLINE
        and mine.free > 0
        and await svc.assignments.claim(conv.id, who.username) == who.username
    ):
        placement = Placement(conv.team or "", "reopened by the agent, who keeps it", who.username)
    else:
        placement = await _place(svc, conv, conv.team or svc.settings.default_team or "default", "reopened")

    def decide(current: Conversation) -> Effects | None:
        if current.assignee is not None and current.assignee != placement.agent_id:
            return None  # placed by another writer meanwhile
        return _placed(Effects(conv.id), current, placement, who, now).touch()

    await update(svc, conv.id, decide, now, by=who)


async def set_presence(svc: Services, agent_id: str, presence: Presence) -> list[str]:
    """Change an agent's presence; coming online takes waiting conversations at once."""
    try:
        await svc.assignments.set_presence(agent_id, presence)
    except KeyError:
        raise NotFound(f"agent {agent_id!r} not found") from None
    taken: list[str] = []
    if presence is Presence.ONLINE:
        taken = await fill_agent(svc.store, svc.assignments, agent_id)
        await live.publish(svc.client, taken)
    return taken


async def update_agent(
    svc: Services, agent_id: str, capacity: int | None, languages: list[str] | None, teams: list[str] | None
) -> AgentLoad:
    entry = (await roster(svc)).get(agent_id)
    if entry is None:
        raise NotFound(f"agent {agent_id!r} not found")
    if teams is not None and svc.teams and any(t not in svc.teams for t in teams):
        raise Invalid(f"teams: unknown team in {json.dumps(teams)}")
    changes = {
        k: v
        for k, v in {
            "capacity": capacity,
            "languages": tuple(languages) if languages is not None else None,
            "teams": tuple(teams) if teams is not None else None,
        }.items()
        if v is not None
    }
    await svc.assignments.upsert_agent(entry.agent.model_copy(update=changes), keep_presence=True)
    user = await svc.users.get(agent_id)
    if user is not None:  # keep the console account's copy in step
        await svc.users.update(agent_id, **changes)
    if entry.agent.presence is Presence.ONLINE:
        await _refill(svc, agent_id)
    return (await roster(svc))[agent_id]


async def withdraw_agent(svc: Services, who: Principal, agent_id: str, reason: str) -> list[str]:
    """Take a deleted or disabled user out of routing: off the roster (presence gone), their
    open conversations handed to another agent of the team or put back in its queue, and their
    name taken off every conversation still in Redis and off every contact (in Redis and, through
    the change stream, in the record), so a later user of the same name inherits no customers.
    Returns the open conversations handed on. Idempotent."""
    held = set(await svc.assignments.remove_agent(agent_id))
    # Before the commits below: the archiver, reading their contacts after those changes, finds them cleared.
    await svc.store.forget_agent(agent_id)
    theirs = await _conversations_of(svc, agent_id, held)
    handed: list[str] = []
    now = utcnow()
    for conv in theirs:
        await svc.assignments.release(conv.id)
        placement = None
        if conv.status is not Status.RESOLVED:
            team = conv.team or svc.settings.default_team or ""
            placement = await _place(svc, conv.model_copy(update={"assignee": None}), team, reason)

        def decide(current: Conversation, placement: Placement | None = placement) -> Effects | None:
            if current.assignee != agent_id:
                return None  # resolved or handed on by another writer meanwhile
            effects = Effects(current.id).set(assignee="")
            if placement is not None and current.status is not Status.RESOLVED:
                _placed(effects, current, placement, who, now)
            return effects.touch()

        read = await update(svc, conv.id, decide, now, by=who)
        if placement is not None:
            if read is not None and read.status is not Status.RESOLVED:
                handed.append(conv.id)
            else:
                await _unplace(svc, conv.id, placement)
    await live.publish(svc.client, handed)
    return handed


async def _unplace(svc: Services, conversation_id: str, placement: Placement) -> None:
    """Take back a placement its decision did not record (the conversation moved meanwhile)."""
    if placement.agent_id is None:
        return  # the queue entry is written by the commit only
    current = await svc.store.get(conversation_id)
    mine = await svc.assignments.assigned_to(conversation_id) == placement.agent_id
    if mine and (current is None or current.assignee != placement.agent_id):
        await svc.assignments.release(conversation_id)
        await _refill(svc, placement.agent_id)


async def _conversations_of(svc: Services, agent_id: str, held: set[str]) -> list[Conversation]:
    """Conversations in Redis assigned to the agent (the ones holding a slot, and the others)."""
    client, found = svc.client, []
    ids = set(held)
    for p in range(svc.store.partitions):
        async for member, _ in client.zscan_iter(keys.conversations_by_update(p), count=1000):
            ids.add(as_text(member))
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        found += [c for c in await svc.store.get_many(ordered[start : start + 500]) if c.assignee == agent_id]
    return found
