"""Hand waiting conversations to agents the moment one has room (frees up or comes online)."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from . import keys
from .assignment import AssignmentStore
from .models import Conversation, ConversationEvent, EventType, Presence, Status, utcnow
from .store import ConversationStore, Effects


async def fill_agent(store: ConversationStore, assignments: AssignmentStore, agent_id: str) -> list[str]:
    """Give one agent queued conversations of their teams while they have room. Idempotent.
    Each is decided on the conversation as it is at the commit: one resolved or given to another
    agent since it was queued is not handed out, and the slot taken for it is given back."""
    roster = {a.agent.id: a for a in await assignments.roster()}
    entry = roster.get(agent_id)
    if entry is None or entry.agent.presence is not Presence.ONLINE or entry.free <= 0:
        return []
    taken = await assignments.take_for(entry.agent)
    now = utcnow()
    given: list[str] = []
    for cid in taken:
        try:
            read, effects = await store.update(cid, partial(_hand_to, agent_id, now), now)
        except KeyError:  # no longer in Redis
            read, effects = None, None
        if read is not None and (effects is not None or read.assignee == agent_id):
            given.append(cid)
        elif await assignments.assigned_to(cid) == agent_id:
            await assignments.release(cid)
    for conv in await store.get_many(given):
        await store.client.hset(keys.contact(conv.contact_id), "last_agent", agent_id)  # type: ignore[misc]
    return given


def _hand_to(agent_id: str, now: datetime, current: Conversation) -> Effects | None:
    if current.status is Status.RESOLVED or current.assignee is not None:
        return None  # resolved meanwhile, or already someone's (perhaps this agent's)
    return (
        Effects(current.id)
        .set(assignee=agent_id, queued_team="")
        .event(
            ConversationEvent(
                conversation_id=current.id,
                type=EventType.ASSIGNED,
                actor="router",
                reason="taken from the team queue: agent has room",
                data={"agent": agent_id},
                at=now,
            )
        )
        .touch()
    )


async def fill_queues(store: ConversationStore, assignments: AssignmentStore) -> int:
    """Sweep: queue entries committed but not yet copied (a crash in between) reach their team
    queues, then every online agent with room takes from the queues (a safety net for missed events)."""
    await store.flush_queued(range(store.partitions))
    total = 0
    for entry in await assignments.roster():
        if entry.agent.presence is Presence.ONLINE and entry.free > 0:
            total += len(await fill_agent(store, assignments, entry.agent.id))
    return total
