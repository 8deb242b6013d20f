"""A conversation's full story: the customer's messages, our replies with their delivery state,
notes and every event with its reason, across all the channels the person wrote from (the
contact and the contacts linked to it)."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.connectors.capabilities import Capabilities, TextRules
from helpline.routing import keys
from helpline.routing.models import (
    Attachment,
    Contact,
    Conversation,
    ConversationEvent,
    Delivery,
    EventType,
    InboundMessage,
    MessageKind,
)

from .archived import archived_story, history_ids
from .archived import contact as archived_contact
from .files import audio, inline, reply_attachments, video
from .queries import recent_scored, summarize
from .roles import Principal, Role, can_see_contact, can_view
from .schemas import Detail, TimelineItem
from .services import Services
from .split import moved_ids

RELATED_SCAN = 2000  # how many recent conversations are searched for the person's other ones


def may_split(svc: Services, conv: Conversation) -> bool:
    """Whether messages of this conversation can be split off into one of their own."""
    caps = svc.capabilities(conv.platform, conv.account)
    return caps is not None and caps.split_threads


def text_rules(svc: Services, conv: Conversation) -> TextRules:
    """How a reply in this conversation is counted and split, as its connector declares it (a
    longer reply is split by the connector, but agents should see it coming)."""
    caps = svc.capabilities(conv.platform, conv.account) or Capabilities()
    return caps.text(direct=conv.kind is MessageKind.DIRECT)


async def conversations_of(svc: Services, contact_ids: Sequence[str], scan: int = RELATED_SCAN) -> list[str]:
    """Ids of recent conversations of these contacts, newest first (a bounded scan: the store
    keeps no per-contact index)."""
    wanted = set(contact_ids)
    recent = await recent_scored(svc, scan, None)
    client = svc.client
    async with client.pipeline(transaction=False) as pipe:
        for cid, _ in recent:
            pipe.hget(keys.conversation(cid), "contact_id")
        owners = await pipe.execute()
    return [cid for (cid, _), owner in zip(recent, owners, strict=True) if owner and owner.decode() in wanted]


def _files(attachments: Sequence[Attachment]) -> dict[str, list[dict[str, str | int | bool]]]:
    """Files, each from `/api/v1/conversations/<id>/attachments/<id>`; `image`: shown as a thumbnail,
    `audio`, `video`: played in the page."""
    if not attachments:
        return {}
    return {
        "attachments": [
            {
                "id": a.platform_file_id,
                "name": a.file_name or a.kind,
                "kind": a.kind,
                "size": a.size_bytes or 0,
                "image": inline(a.mime_type),
                "audio": audio(a.mime_type),
                "video": video(a.mime_type),
            }
            for a in attachments
        ]
    }


def items_of(
    conv: Conversation,
    messages_: Sequence[InboundMessage],
    events: Sequence[ConversationEvent],
    deliveries: Sequence[Delivery],
    current: bool,
) -> list[TimelineItem]:
    """Pure: one conversation's messages, replies, notes and events as timeline items."""
    by_reply = {d.reply_id: d for d in deliveries}
    base = {"conversation_id": conv.id, "platform": conv.platform, "current": current}
    out: list[TimelineItem] = []
    moved = moved_ids([(e.type, dict(e.data)) for e in events])  # split off: shown in their new conversation
    for m in messages_:
        if m.message_id in moved:
            continue
        out.append(
            TimelineItem(
                kind="message",
                at=m.received_at,
                visibility=m.visibility.value,
                author=m.author.display_name or m.author.handle or m.author.user_id,
                text=m.text,
                data={
                    "handle": m.author.handle,
                    "message_id": m.message_id,
                    "edited": m.edited,
                    **_files(m.attachments),
                },
                **base,
            )
        )
    for e in events:
        if e.type is EventType.REPLY_QUEUED:
            reply_id = str(e.data.get("reply_id") or "")
            d = by_reply.get(reply_id)
            private = bool(e.data.get("private", conv.visibility.value == "private"))
            out.append(
                TimelineItem(
                    kind="reply",
                    at=e.at,
                    author=e.actor,
                    text=str(e.data.get("text") or ""),
                    reply_id=reply_id,
                    visibility="private" if private else "public",
                    reason=e.reason,
                    delivery=d.state.value if d else None,
                    platform_message_ids=list(d.platform_message_ids) if d else [],
                    error=d.error if d else None,
                    data=_files(reply_attachments(e.data)),
                    **base,
                )
            )
        elif e.type is EventType.NOTE:
            # an SLA breach is a note whose words are its reason
            out.append(
                TimelineItem(
                    kind="note",
                    at=e.at,
                    author=e.actor,
                    text=str(e.data.get("text") or e.reason),
                    visibility="internal",
                    reason=e.reason,
                    **base,
                )
            )
        else:
            out.append(
                TimelineItem(
                    kind="event",
                    at=e.at,
                    author=e.actor,
                    event=e.type.value,
                    reason=e.reason,
                    data=dict(e.data),
                    **base,
                )
            )
    return out


async def detail(svc: Services, who: Principal, conv: Conversation) -> Detail:
    store = svc.store
    group = await svc.links.group(conv.contact_id)
    # from Redis, else from the record (a linked contact's conversations may all have left Redis)
    contacts: list[Contact] = [c for c in [await archived_contact(svc, cid) for cid in group] if c is not None]
    contact = next((c for c in contacts if c.id == conv.contact_id), None)
    hot_ids = await conversations_of(svc, group)
    related_ids = [cid for cid in dict.fromkeys([*hot_ids, *await history_ids(svc, who, group)]) if cid != conv.id]
    related = [c for c in await store.get_many(related_ids) if can_view(who, c)]
    timeline: list[TimelineItem] = []
    for c in [conv, *related]:
        events = await store.events(c.id)
        timeline += items_of(
            c, await store.messages(c.id), events, await store.deliveries(c.id, events), current=c.id == conv.id
        )
    in_redis = {c.id for c in related}
    visible = [conv, *related]  # every conversation of the group the caller may see, hot or archived
    for cid in related_ids:  # the person's conversations that have left Redis: from the record
        story = None if cid in in_redis else await archived_story(svc, cid)
        if story is not None and can_view(who, story[0]):
            timeline += items_of(*story, current=False)
            visible.append(story[0])
    linked_contacts = [c for c in contacts if c.id != conv.contact_id and can_see_contact(who, c.id, visible)]
    if who.role is Role.MARKETING:
        # Marketing reads what is public: not the bot's private follow-ups, not the agents' internal
        # notes, not the links that lead to the customer's private conversations and accounts.
        timeline = [
            item
            for item in timeline
            if item.visibility not in ("private", "internal") and item.event != EventType.LINKED.value
        ]
        linked_contacts = []
    timeline.sort(key=lambda item: item.at)
    summary, *related_summaries = await summarize(svc, who, [conv, *related])
    rules = text_rules(svc, conv)
    return Detail(
        summary=summary,
        contact=contact,
        linked_contacts=linked_contacts,
        related=related_summaries,
        timeline=timeline,
        char_limit=rules.limit,
        char_counting=rules.counting,
        snoozed_until=summary.snoozed_until,
    )
