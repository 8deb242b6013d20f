"""Hand waiting conversations to agents the moment one has room (frees up or comes online), and
give back the slots of claims their conversation never recorded."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from . import keys
from .assignment import AssignmentStore
from .decode import as_text
from .models import Conversation, ConversationEvent, EventType, Presence, Status, utcnow
from .scripts import CONFLICT
from .store import ConversationStore, Effects, conversation_from_hash, to_ms

log = logging.getLogger(__name__)

#: How old an unrecorded claim must be before the janitor looks at it: longer than a decision
#: takes (a bot call times out after 8 s), so it rarely disturbs one in flight. Not what makes
#: the release safe: that is the version the release commits (see `release_orphan_claims`).
ORPHAN_AFTER_S = 120.0


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


async def release_orphan_claims(
    store: ConversationStore, assignments: AssignmentStore, older_than_s: float = ORPHAN_AFTER_S
) -> list[str]:
    """Give back the slots of claims (made before `older_than_s` ago) that their conversation
    does not name as its assignee: the claimer crashed before its commit, or the commit was
    refused and the message was decided otherwise. Returns the conversations released.

    Safe against a router still deciding: before releasing, it commits the conversation's
    assignee as read, guarded by the version read, which raises the version; the router's commit
    is guarded by the version its decision read, so a late one is refused and the message decided
    again, claiming anew. (The console and `fill_agent` re-run only their commit on a conflict;
    between their claim and their commit they wait on nothing but Redis, far under the grace.)
    A conversation taken off its team queue for the claim (`take_for`) goes back to it in that
    same commit."""
    released: list[str] = []
    before = to_ms(utcnow()) - int(older_than_s * 1000)
    for cid, claimed_ms in await assignments.unconfirmed(before):
        agent_id = await assignments.assigned_to(cid)
        if agent_id is None:  # released meanwhile (resolved, transferred)
            await assignments.confirm(cid, claimed_ms)
            continue
        verdict = await _fence_unrecorded(store, cid, agent_id)
        if verdict == "recorded":
            await assignments.confirm(cid, claimed_ms)
        elif verdict == "released" and await assignments.release_orphan(cid, agent_id, claimed_ms):
            log.warning("gave back %s's slot: conversation %s never recorded the claim", agent_id, cid)
            released.append(cid)
    return released


async def _fence_unrecorded(store: ConversationStore, conversation_id: str, agent_id: str) -> str:
    """Returns "recorded" if the conversation names the agent; else "released" once a commit raised
    its version (refusing any claimer's commit decided before) and put it back in its team's
    queue if it was waiting there; "busy" if it kept changing (the next sweep tries again)."""
    for _ in range(5):
        raw = await store.client.hgetall(keys.conversation(conversation_id))  # type: ignore[misc]
        if not raw:
            return "released"
        conv = conversation_from_hash(raw)
        if conv.assignee == agent_id:
            return "recorded"
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        effects = Effects(conversation_id).expect_exists().expect_version(conv.version)
        effects.set(assignee=conv.assignee or "")
        team = fields.get("queued_team", "")
        if team and conv.assignee is None and conv.status is not Status.RESOLVED:
            effects.queue(team, conv.language, conv.priority, to_ms(conv.created_at))
        (code,) = await store.commit([effects], utcnow())
        if code != CONFLICT:
            return "released"  # committed, or the conversation is gone (MISSING)
    return "busy"


async def fill_queues(
    store: ConversationStore, assignments: AssignmentStore, orphan_after_s: float = ORPHAN_AFTER_S
) -> int:
    """Sweep: slots of claims no conversation recorded are given back, queue entries committed
    but not yet copied (a crash in between) reach their team queues, then every online agent
    with room takes from the queues (a safety net for missed events)."""
    await release_orphan_claims(store, assignments, orphan_after_s)
    await store.flush_queued(range(store.partitions))
    total = 0
    for entry in await assignments.roster():
        if entry.agent.presence is Presence.ONLINE and entry.free > 0:
            total += len(await fill_agent(store, assignments, entry.agent.id))
    return total
