"""Incident mode in the conversation flow: auto-linking new customer messages, bulk resolution,
and opening an incident when its announcement is published.

Router hook (per new customer message, after the message is threaded, before its effects are
committed):

    action = incident_action(await incidents.open_incidents(), message, conversation, language)
    if action is not None:
        await incidents.link(action.incident_id, conversation.id)      # idempotent SADD
        apply_incident(effects, action, conversation, message)          # label + event + reply

`incident_action` is pure; a conversation already labelled for the incident gets nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from helpline.routing import keys
from helpline.routing.assignment import AssignmentStore
from helpline.routing.decode import as_text
from helpline.routing.models import (
    Conversation,
    ConversationEvent,
    EventType,
    InboundMessage,
    OutboundReply,
    Status,
    utcnow,
)
from helpline.routing.outbound import reply_to
from helpline.routing.queueing import fill_agent
from helpline.routing.store import ConversationStore, Effects, to_ms

from .catalog import Catalog, default_catalog
from .incidents import Incident, IncidentStore, match
from .store import AnnouncementStore

ACTOR = "announcements"


@dataclass(frozen=True)
class IncidentAction:
    incident_id: str
    label: str  # "incident:<id>"
    reply_text: str  # the announcement's link, in the customer's language


def incident_action(
    incidents: Sequence[Incident],
    message: InboundMessage,
    conversation: Conversation,
    language: str | None,
    catalog: Catalog | None = None,
) -> IncidentAction | None:
    """What incident mode does with this message: label, link and answer it, or nothing. Pure."""
    incident = match(incidents, message)
    if incident is None or incident.label in conversation.labels:
        return None
    text = (catalog or default_catalog()).text("incident_reply", language, link=incident.link)
    return IncidentAction(incident.id, incident.label, text)


def apply_incident(
    effects: Effects, action: IncidentAction, conversation: Conversation, message: InboundMessage
) -> Effects:
    """Add the label, a LINKED event and the immediate answer to the message's effects. The reply
    id is derived from the message, so a redelivered message is answered once."""
    labels = sorted({*conversation.labels, action.label})
    reply_id = f"{conversation.id}:{message.message_id}:{action.label}"
    reply = reply_to(
        conversation,
        reply_id=reply_id,
        text=action.reply_text,
        sender=f"bot:{ACTOR}",
        in_reply_to=message.message_id,
        recipient_id=message.author.user_id,
    )
    now = utcnow()
    effects.labels(add=[action.label])
    effects.event(
        ConversationEvent(
            conversation_id=conversation.id,
            type=EventType.LINKED,
            actor=ACTOR,
            reason=f"matches open incident {action.incident_id}",
            data={"incident": action.incident_id, "labels": labels},
            at=now,
        )
    )
    effects.reply(reply, keys.conversation_partition(conversation.id))
    effects.event(
        ConversationEvent(
            conversation_id=conversation.id,
            type=EventType.REPLY_QUEUED,
            actor=ACTOR,
            reason="incident link",
            data={"reply_id": reply_id},
            at=now,
        )
    )
    if conversation.first_response_at is None:
        effects.set_once(first_response_at=to_ms(now))
    return effects


async def resolve_all(
    store: ConversationStore,
    incidents: IncidentStore,
    incident_id: str,
    closing_text: str,
    actor: str,
    *,
    assignments: AssignmentStore,
) -> int:
    """Answer every linked conversation that is not resolved with `closing_text` and resolve it;
    then close the incident. As an agent's resolve does, each one's agent is freed (the slot is
    offered to the team queue, and the contact remembers the agent) and a waiting one leaves its
    queue. Idempotent: reply ids are per (conversation, incident), and resolved conversations are
    skipped, also one resolved by another writer while this runs (each is decided on the
    conversation as it is at its commit). Returns how many were resolved now."""
    if not closing_text.strip():
        raise ValueError("closing_text: a closing message is required")
    await incidents.get(incident_id)  # NotFound before touching anything
    now = utcnow()
    resolved = 0
    for conversation in await store.get_many(await incidents.conversations(incident_id)):
        if conversation.status is Status.RESOLVED:
            continue
        history = await store.messages(conversation.id)
        contact = await store.contact(conversation.contact_id)
        reply_id = f"{conversation.id}:incident:{incident_id}:closing"
        reply = reply_to(
            conversation,
            reply_id=reply_id,
            text=closing_text.strip(),
            sender=actor,
            in_reply_to=history[-1].message_id if history else None,
            recipient_id=contact.user_id if contact else None,
        )

        def decide(current: Conversation, reply: OutboundReply = reply, reply_id: str = reply_id) -> Effects | None:
            if current.status is Status.RESOLVED:
                return None
            return (
                Effects(current.id)
                .reply(reply, keys.conversation_partition(current.id))
                .event(
                    ConversationEvent(
                        conversation_id=current.id,
                        type=EventType.REPLY_QUEUED,
                        actor=actor,
                        reason=f"incident {incident_id} closing message",
                        data={"reply_id": reply_id},
                        at=now,
                    )
                )
                .set(
                    status=Status.RESOLVED.value,
                    resolved_at=to_ms(now),
                    resolved_by=actor,
                    assignee="",
                    queued_team="",
                    snoozed_until="",
                )
                .event(
                    ConversationEvent(
                        conversation_id=current.id,
                        type=EventType.STATUS,
                        actor=actor,
                        reason=f"incident {incident_id} resolved",
                        data={"status": "resolved"},
                        at=now,
                    )
                )
                .touch()
            )

        queued = await store.client.hget(keys.conversation(conversation.id), "queued_team")  # type: ignore[misc]
        try:
            read, effects = await store.update(conversation.id, decide, now)
        except KeyError:  # erased meanwhile
            continue
        if effects is None:
            continue  # resolved by another writer, who freed what it held
        resolved += 1
        if queued:
            await assignments.dequeue(as_text(queued), conversation.id)
        agent = await assignments.release(conversation.id)
        if agent or read.assignee:
            await store.remember_agent(conversation.contact_id, agent or read.assignee or "")
        if agent:
            await fill_agent(store, assignments, agent)
    await incidents.close(incident_id, actor)
    return resolved


async def open_for_announcement(
    announcements: AnnouncementStore, incidents: IncidentStore, announcement_id: str, final_state: str
) -> Incident | None:
    """Completion hook: a published (or partly published) announcement with an incident spec
    opens its incident, linking to the spec's link or the first post's URL. Idempotent."""
    if final_state == "failed":
        return None
    announcement = await announcements.get(announcement_id)
    spec = announcement.incident
    if spec is None:
        return None
    link = spec.link or (await announcements.progress(announcement_id)).first_url
    if not link:
        return None
    return await incidents.open(
        keywords=spec.keywords,
        languages=spec.languages,
        link=link,
        title=announcement.title or announcement.text[:80],
        announcement_id=announcement_id,
    )
