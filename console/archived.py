"""The console's reads from the SQL record: search, a person's conversations across channels,
and conversations that have left Redis (shown from the record, restored into Redis to act on).

The record trails Redis by the archiver's lag, so a search also looks at the conversations whose
changes the archiver has not taken yet (named by the change streams), in Redis, and shows those
first: nothing just written is missing, and nothing is shown twice. If the record cannot be read
the console says so in the log and searches Redis as before.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from redis.exceptions import ResponseError
from sqlalchemy.exc import DBAPIError, OperationalError

from helpline.archive import reader
from helpline.archive.database import reason
from helpline.archive.search import Access, Query, search
from helpline.routing import keys
from helpline.routing.models import Contact, Conversation, ConversationEvent, Delivery, DeliveryState, InboundMessage
from helpline.routing.store import conversation_from_hash

from .queries import SCAN_CAP, Filters, _search_texts, _text_match, scan, summarize
from .roles import Principal, Role, can_view
from .schemas import Page
from .send_trouble import VIEWS as TROUBLE_VIEWS
from .services import Services

log = logging.getLogger(__name__)
UNAVAILABLE = (OperationalError, DBAPIError, OSError)
_MARK = re.compile(r"</?mark>")


def access_of(who: Principal) -> Access:
    """The same rule as `roles.can_view`, for the query."""
    return Access(
        everything=who.sees_all, public_only=who.role is Role.MARKETING, username=who.username, teams=who.teams
    )


def conversation_of(row: dict[str, Any]) -> Conversation:
    fields = {
        k: str(v) for k, v in row.items() if v is not None and k not in ("fields", "document", "num", "last_event")
    }
    return conversation_from_hash(fields)


async def unarchived(svc: Services, cap: int = SCAN_CAP) -> list[str]:
    """Ids of the conversations changed since the archiver's position, newest change first."""
    client = svc.client
    ids: dict[str, None] = {}
    for p in range(svc.store.partitions):
        stream = keys.changes(p)
        try:
            groups = {g["name"].decode(): g for g in await client.xinfo_groups(stream)}
        except ResponseError:
            continue  # no stream: nothing changed in this partition
        group = groups.get(keys.ARCHIVER_GROUP)
        start = "-"
        if group is not None:
            summary = await client.xpending(stream, keys.ARCHIVER_GROUP) if int(group["pending"]) else None
            start = (
                summary["min"].decode() if summary and summary.get("min") else "(" + group["last-delivered-id"].decode()
            )
        for _, fields in await client.xrevrange(stream, "+", start, count=cap):
            for cid in (fields.get(b"c") or b"").decode().split("\x1f"):
                if cid:
                    ids[cid] = None
    return list(ids)[:cap]


def _query(who: Principal, f: Filters) -> Query:
    views: dict[str, dict[str, Any]] = {
        "mine": {"assignee": who.username},
        "unassigned": {"unassigned": True},
        "team": {"in_teams": who.teams},
        "escalated": {"label": "escalated"},
    }
    view = views.get(f.view, {})
    base: dict[str, Any] = {
        "text": f.q or "",
        "platform": f.platform,
        "status": f.status,
        "team": f.team,
        "assignee": f.assignee,
        "priority": f.priority,
        "language": f.language,
        "label": f.label,
    }
    base.update({k: v for k, v in view.items() if base.get(k) is None})
    return Query(**base)


async def search_page(svc: Services, who: Principal, filters: Filters, limit: int, cursor: str | None) -> Page:
    """A text search over the record (and what it has not taken yet), newest first."""
    store = svc.store
    trouble_view = filters.view if filters.view in TROUBLE_VIEWS else None
    # the record knows no delivery states: search every view, keep the flagged rows below
    searched = replace(filters, view="all") if trouble_view else filters
    fresh_ids = await unarchived(svc)
    fresh: list[Conversation] = []
    if cursor is None and fresh_ids:
        convs = await store.get_many(fresh_ids)
        texts = await _search_texts(svc, convs)
        fresh = sorted(
            (c for c in convs if searched.matches(who, c) and _text_match(filters.q, texts[c.id])),
            key=lambda c: (c.updated_at, c.id),
            reverse=True,
        )[:limit]
    try:
        query = replace(_query(who, searched), exclude=tuple(fresh_ids))
        results = await search(svc.record, access_of(who), query, limit=limit, cursor=cursor)
    except UNAVAILABLE as exc:
        log.warning(
            "console search: the record is unavailable (%s); searching recent conversations in Redis",
            reason(exc, svc.record.url),
        )
        convs, next_cursor = await scan(svc, who, filters, limit, cursor)
        return Page(items=await summarize(svc, who, convs), next_cursor=next_cursor)
    archived = [conversation_of(h.conversation) for h in results.hits]
    live = {c.id: c for c in await store.get_many([c.id for c in archived])}
    shown = [*fresh, *[live.get(c.id, c) for c in archived]]
    items = await summarize(svc, who, shown)
    if trouble_view:
        items = [i for i in items if (i.failed_sends if trouble_view == "failed" else i.uncertain_sends)]
    previews = {h.conversation["id"]: h.highlights for h in results.hits}
    for item in items:
        marks = previews.get(item.conversation.id)
        if marks and not item.preview:  # not in Redis any more: the matching text from the record
            item.preview = html.unescape(_MARK.sub("", marks[0]))
    return Page(items=items, next_cursor=results.next_cursor)


async def history_ids(svc: Services, who: Principal, contact_ids: Sequence[str]) -> list[str]:
    """The person's conversations in the record that `who` may see, newest first ([] if the
    record cannot be read)."""
    try:
        rows = await reader.contact_history(svc.record, contact_ids, access_of(who))
    except UNAVAILABLE as exc:
        log.warning("contact history: the record is unavailable (%s)", reason(exc, svc.record.url))
        return []
    return [r["id"] for r in rows]


async def archived_story(
    svc: Services, conversation_id: str
) -> tuple[Conversation, list[InboundMessage], list[ConversationEvent], list[Delivery]] | None:
    """A conversation that has left Redis, from the record."""
    try:
        h = await reader.history(svc.record, conversation_id)
        replies = await reader.replies_of(svc.record, conversation_id) if h else []
    except UNAVAILABLE:
        return None
    if h is None:
        return None
    deliveries = [
        Delivery(
            reply_id=r["reply_id"],
            state=DeliveryState(r["state"]),
            platform_message_ids=tuple(_json_list(r["platform_ids"])),
            error=r["error"] or None,
        )
        for r in replies
    ]
    return (
        conversation_of(h.conversation),
        [InboundMessage.model_validate_json(m) for m in h.messages],
        [ConversationEvent.model_validate_json(e) for e in h.events],
        deliveries,
    )


async def contact(svc: Services, contact_id: str) -> Contact | None:
    """The contact from Redis, else from the record (its Redis copy expires after its conversations
    leave)."""
    found = await svc.store.contact(contact_id)
    if found is not None:
        return found
    try:
        row = await reader.contact(svc.record, contact_id)
    except UNAVAILABLE:
        return None
    return Contact.model_validate({k: v for k, v in row.items() if v is not None}) if row else None


async def restore(svc: Services, who: Principal, conversation_id: str) -> Conversation | None:
    """Bring an archived conversation back into Redis if `who` may see it (to open or act on it)."""
    try:
        row = await reader.conversation(svc.record, conversation_id)
        if row is None or not can_view(who, conversation_of(row)):
            return None
        await reader.restore(svc.client, svc.record, conversation_id)
    except UNAVAILABLE as exc:
        log.warning("conversation %s: the record is unavailable (%s)", conversation_id, reason(exc, svc.record.url))
        return None
    return await svc.store.get(conversation_id)


def _json_list(raw: str) -> list[str]:
    value = json.loads(raw or "[]")
    return [str(v) for v in value] if isinstance(value, list) else []
