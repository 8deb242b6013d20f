"""Hand waiting conversations to agents the moment one has room (frees up or comes online)."""

from __future__ import annotations

from . import keys
from .assignment import AssignmentStore
from .models import ConversationEvent, EventType, Presence, utcnow
from .store import ConversationStore, Effects


async def fill_agent(store: ConversationStore, assignments: AssignmentStore, agent_id: str) -> list[str]:
    """Give one agent queued conversations of their teams while they have room. Idempotent."""
    roster = {a.agent.id: a for a in await assignments.roster()}
    entry = roster.get(agent_id)
    if entry is None or entry.agent.presence is not Presence.ONLINE or entry.free <= 0:
        return []
    taken = await assignments.take_for(entry.agent)
    now = utcnow()
    effects = []
    for cid in taken:
        effects.append(
            Effects(cid)
            .set(assignee=agent_id, queued_team="")
            .event(ConversationEvent(conversation_id=cid, type=EventType.ASSIGNED, actor="router",
                                     reason="taken from the team queue: agent has room", data={"agent": agent_id},
                                     at=now))
            .touch()
        )
    await store.commit(effects, now)
    for conv in await store.get_many(taken):
        await store.client.hset(keys.contact(conv.contact_id), "last_agent", agent_id)  # type: ignore[misc]
    return taken


async def fill_queues(store: ConversationStore, assignments: AssignmentStore) -> int:
    """Sweep: every online agent with room takes from the queues (a safety net for missed events)."""
    total = 0
    for entry in await assignments.roster():
        if entry.agent.presence is Presence.ONLINE and entry.free > 0:
            total += len(await fill_agent(store, assignments, entry.agent.id))
    return total
