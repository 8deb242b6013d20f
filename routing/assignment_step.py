"""Assignment in the routing chain: a conversation that needs a human goes to an online agent
of its team, or waits in the team's queue (see `chain.py` for the step contract)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .assignment import AgentLoad, AssignmentStore, choose_agent
from .chain import BaseStep, Turn
from .models import EventType
from .store import ConversationStore, to_ms

#: The contact's last agent from somewhere other than Redis (the record keeps it after the
#: contact's Redis copy expired); None when unknown or unavailable. Must answer quickly.
Recall = Callable[[str], Awaitable[str | None]]


@dataclass
class AssignmentStep(BaseStep):
    """Assign or queue. `reopened_only`: the instance placed early in the chain, for a resolved
    conversation the customer reopened. Idempotent: an earlier claim for the conversation is
    found and reused, and queueing is a set operation. The claim is written before the commit
    (another cluster slot); one the commit never records is given back by the janitor
    (`queueing.release_orphan_claims`), which first makes this commit conflict if it is late.
    The contact's last agent (the sticky hint, a third slot) is written after the commit, only if
    it applied (`Effects.remember_agent`).
    `recall`: where to find the contact's last agent when Redis no longer has it (sticky
    assignment survives the contact's eviction)."""

    assignments: AssignmentStore
    store: ConversationStore
    reopened_only: bool = False
    name: str = "assignment"
    recall: Recall | None = None

    def check(self, turn: Turn) -> str | None:
        conv = turn.conversation
        if conv.assignee:
            return None
        if self.reopened_only:
            return "reopened" if turn.applied.reopened and not conv.handler else None
        if (conv.handler and conv.handler.startswith("bot:")) or turn.fields.get("queued_team"):
            return None
        if turn.wants_agent:
            return turn.wants_agent
        return "needs an agent" if turn.fields.get("routed") == "1" else None

    async def handle(self, turn: Turn, decision: str) -> bool:
        conv = turn.conversation
        agent_id = await self.assignments.assigned_to(conv.id)
        reason = f"{decision}; already claimed"
        if agent_id is None:
            roster: list[AgentLoad] | None = turn.cache.get(self.name)
            if roster is None:
                roster = turn.cache[self.name] = await self.assignments.roster()
            contact = await self.store.contact(conv.contact_id)
            last_agent = contact.last_agent if contact else None
            if last_agent is None and self.recall is not None:
                last_agent = await self.recall(conv.contact_id)
            choice = choose_agent(roster, conv.team, turn.language, last_agent)
            reason = f"{decision}; {choice.reason}"
            if choice.agent_id is not None:
                agent_id = await self.assignments.claim(conv.id, choice.agent_id)
                turn.cache.pop(self.name, None)  # loads changed
            if agent_id is None:
                team = conv.team or "default"
                turn.effects.queue(team, turn.language, conv.priority, to_ms(conv.created_at))
                turn.note(queued_team=team)
                turn.queued_team = team
                turn.event(EventType.QUEUED, reason, team=team, priority=conv.priority.value)
                return False
        turn.set(assignee=agent_id, queued_team="")
        turn.event(EventType.ASSIGNED, reason, agent=agent_id)
        turn.effects.remember_agent(conv.contact_id, agent_id)  # written once committed (another slot)
        return False
