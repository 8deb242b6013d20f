"""Reading the inbox: filtered, cursor-paginated lists of the conversations a user may see, with
what a row needs (contact, preview, unread mark, SLA clock).

Lists walk the per-partition `idx:updated` sorted sets newest first. The cursor is opaque to
clients: the last updated-ms seen plus the ids already returned at exactly that ms, so
conversations updated in the same millisecond are neither skipped nor repeated.
"""

from __future__ import annotations

import base64
import heapq
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from helpline.insights.sla import sla_clock
from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import Contact, Conversation, InboundMessage, Priority, Status
from helpline.routing.store import from_ms

from .errors import Invalid
from .roles import Principal, can_view
from .schemas import Page, Summary
from .send_trouble import VIEWS as TROUBLE_VIEWS
from .send_trouble import SendTrouble, failed_reply_ids, send_trouble, trouble_of
from .services import Services
from .waiting import wait_clock

BATCH = 200
SCAN_CAP = 5000  # one request looks at most at this many conversations (then returns a cursor)
COUNT_WINDOW = 1000  # view counts cover the most recent conversations only
TAIL = 20  # messages and events read per row (preview, search, SLA clock)
VIEWS = ("mine", "unassigned", "team", "all", "escalated", *TROUBLE_VIEWS)
SORTS = ("activity", "waiting", "priority")
SORT_WINDOW = 500  # a sort other than by activity orders the most recent matching conversations
ESCALATED = "escalated"


@dataclass(frozen=True)
class Filters:
    view: str = "all"
    status: str | None = None
    platform: str | None = None
    team: str | None = None
    assignee: str | None = None
    priority: str | None = None
    language: str | None = None
    label: str | None = None
    q: str | None = None
    sort: str = "activity"

    def matches(self, who: Principal, c: Conversation, trouble: SendTrouble | None = None) -> bool:
        if not can_view(who, c):
            return False
        checks = (
            (self.status, c.status.value),
            (self.platform, c.platform),
            (self.team, c.team),
            (self.assignee, c.assignee),
            (self.priority, c.priority.value),
            (self.language, c.language),
        )
        if any(want is not None and want != have for want, have in checks):
            return False
        if self.label is not None and self.label not in c.labels:
            return False
        return in_view(self.view, who, c, trouble)


def in_view(view: str, who: Principal, c: Conversation, trouble: SendTrouble | None = None) -> bool:
    """Whether `c` is in `view`; the send-trouble views need the conversation's `trouble`."""
    if view in TROUBLE_VIEWS:
        return trouble is not None and trouble.of(view) > 0
    if view == "mine":
        return c.assignee == who.username
    if view == "unassigned":
        return c.assignee is None and not c.handler and c.status is not Status.RESOLVED
    if view == "team":
        return c.team is not None and c.team in who.teams
    if view == "escalated":
        return ESCALATED in c.labels
    return True


def encode_cursor(ms: int, ids: Sequence[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([ms, list(ids)]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, list[str]]:
    try:
        ms, ids = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(ms, int) or not 0 <= ms < 2**53 or not isinstance(ids, list):
            raise ValueError("out of range")  # a float, 1e999 or a nested value was never issued
        return ms, [str(i) for i in ids]
    except (ValueError, TypeError, RecursionError) as exc:
        raise Invalid("cursor: not a cursor this server issued") from exc


async def recent_scored(svc: Services, limit: int, top_ms: int | None) -> list[tuple[str, int]]:
    """(conversation id, updated ms) newest first, at or below `top_ms`, across partitions."""
    top = "+inf" if top_ms is None else str(top_ms)
    client = svc.client
    async with client.pipeline(transaction=False) as pipe:
        for p in range(svc.store.partitions):
            pipe.zrevrangebyscore(keys.conversations_by_update(p), top, "-inf", start=0, num=limit, withscores=True)
        per_partition = await pipe.execute()
    merged = heapq.merge(*per_partition, key=lambda item: (-item[1], item[0]))
    return [(as_text(cid), int(score)) for cid, score in list(merged)[:limit]]


async def scan(
    svc: Services, who: Principal, filters: Filters, limit: int, cursor: str | None = None, cap: int = SCAN_CAP
) -> tuple[list[Conversation], str | None]:
    """Matching conversations newest first, and the cursor to continue (None at the end)."""
    top, at_top = decode_cursor(cursor) if cursor else (None, [])
    found: list[Conversation] = []
    scanned = 0
    while len(found) < limit and scanned < cap:
        skip = set(at_top)
        batch = [
            (cid, ms) for cid, ms in await recent_scored(svc, BATCH + len(skip), top) if not (ms == top and cid in skip)
        ]
        if not batch:
            return found, None
        convs = {c.id: c for c in await svc.store.get_many([cid for cid, _ in batch])}
        texts = await _search_texts(svc, list(convs.values())) if filters.q else {}
        trouble = await send_trouble(svc.client, list(convs)) if filters.view in TROUBLE_VIEWS else {}
        for cid, ms in batch:
            scanned += 1
            if ms != top:
                top, at_top = ms, []
            at_top.append(cid)
            conv = convs.get(cid)
            if (
                conv is not None
                and filters.matches(who, conv, trouble.get(cid))
                and _text_match(filters.q, texts.get(cid, ""))
            ):
                found.append(conv)
                if len(found) >= limit:
                    break
    return found, (encode_cursor(top, at_top) if top is not None else None)


def _text_match(q: str | None, text: str) -> bool:
    return not q or q.casefold() in text


async def _search_texts(svc: Services, convs: Sequence[Conversation]) -> dict[str, str]:
    """Searchable text per conversation: contact name and handle plus the recent messages."""
    client = svc.client
    async with client.pipeline(transaction=False) as pipe:
        for c in convs:
            pipe.zrange(keys.messages(c.id), -TAIL, -1)
            pipe.hmget(keys.contact(c.contact_id), ["display_name", "handle"])
        raw = await pipe.execute()
    out = {}
    for i, c in enumerate(convs):
        texts = [InboundMessage.model_validate_json(m).text for m in raw[2 * i]]
        names = [as_text(v) for v in raw[2 * i + 1] if v]
        out[c.id] = " ".join([*names, *texts, c.id]).casefold()
    return out


async def summarize(svc: Services, who: Principal, convs: Sequence[Conversation]) -> list[Summary]:
    client = svc.client
    async with client.pipeline(transaction=False) as pipe:
        for c in convs:
            pipe.hgetall(keys.contact(c.contact_id))
            pipe.zrange(keys.messages(c.id), -TAIL, -1)
            pipe.lrange(keys.events(c.id), -TAIL * 2, -1)
            pipe.hget(keys.conversation(c.id), "snoozed_until")
        pipe.hgetall(keys.console_seen(who.username))
        raw = await pipe.execute()
    seen = {as_text(k): int(v) for k, v in raw[-1].items()}
    trouble = await trouble_of(client, {c.id: failed_reply_ids(raw[4 * i + 2]) for i, c in enumerate(convs)})
    settings = svc.settings
    out = []
    for i, c in enumerate(convs):
        contact_raw, messages_raw, events_raw, snoozed = raw[4 * i : 4 * i + 4]
        contact = {as_text(k): as_text(v) for k, v in contact_raw.items()}
        messages = [InboundMessage.model_validate_json(m) for m in messages_raw]
        wait = wait_clock(c.status, messages, [json.loads(e) for e in events_raw])
        last_customer_ms = int(c.last_customer_at.timestamp() * 1000) if c.last_customer_at else 0
        sla = sla_clock(c, policies=settings.sla, hours=settings.hours, waiting_since=wait.since)
        out.append(
            Summary(
                conversation=c,
                visibility=c.visibility.value,
                contact_name=contact.get("display_name", ""),
                contact_handle=contact.get("handle", ""),
                preview=(messages[-1].text[:160] if messages else ""),
                unread=last_customer_ms > seen.get(c.id, 0),
                waiting_since=wait.since,
                handoff_at=wait.handoff_at,
                sla_due=sla.due_at if sla else None,
                snoozed_until=from_ms(snoozed),
                failed_sends=trouble[c.id].failed,
                uncertain_sends=trouble[c.id].uncertain,
            )
        )
    return out


def default_sort(view: str) -> str:
    """Queues (Unassigned, My teams) put the most urgent first; the others the latest first."""
    return "priority" if view in ("unassigned", "team") else "activity"


RANK = {p: i for i, p in enumerate(reversed(list(Priority)))}  # urgent 0 ... low 3
FAR = datetime.max.replace(tzinfo=UTC)


def sort_key(sort: str) -> Callable[[Summary], tuple[Any, ...]]:
    """Priority: urgent first, then the SLA due first, then the longest wait. Waiting: the
    longest wait first (conversations not waiting on us last)."""

    def by_priority(s: Summary) -> tuple[Any, ...]:
        c = s.conversation
        return RANK[c.priority], s.sla_due or FAR, s.waiting_since or FAR, -c.updated_at.timestamp()

    def by_waiting(s: Summary) -> tuple[Any, ...]:
        c = s.conversation
        return s.waiting_since or FAR, RANK[c.priority], -c.updated_at.timestamp()

    return by_priority if sort == "priority" else by_waiting


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    match = re.fullmatch(r"o(\d{1,6})", cursor)
    if match is None:
        raise Invalid("cursor: not a cursor this server issued")
    return int(match.group(1))


async def sorted_page(svc: Services, who: Principal, filters: Filters, limit: int, cursor: str | None) -> Page:
    """One page of the most recent matching conversations in `filters.sort` order (a cursor is
    an offset into that order)."""
    start = _offset(cursor)
    convs, _ = await scan(svc, who, filters, SORT_WINDOW)
    ordered = sorted(await summarize(svc, who, convs), key=sort_key(filters.sort))
    more = start + limit < len(ordered)
    return Page(items=ordered[start : start + limit], next_cursor=f"o{start + limit}" if more else None)


async def list_page(svc: Services, who: Principal, filters: Filters, limit: int, cursor: str | None) -> Page:
    if filters.q:  # text search runs on the SQL record (console/archived.py)
        from .archived import search_page

        return await search_page(svc, who, filters, limit, cursor)
    if filters.sort != "activity":
        return await sorted_page(svc, who, filters, limit, cursor)
    convs, next_cursor = await scan(svc, who, filters, limit, cursor)
    return Page(items=await summarize(svc, who, convs), next_cursor=next_cursor)


async def view_counts(svc: Services, who: Principal, filters: Filters | None = None) -> dict[str, int]:
    """How many conversations each inbox view lists with the same filters (status, platform,
    priority, team, agent, language, label; not the text search), over the recent window: the
    number beside a view is the length of its list. Without filters: those not resolved."""
    counts, _ = await view_facets(svc, who, filters)
    return counts


async def view_facets(
    svc: Services, who: Principal, filters: Filters | None = None
) -> tuple[dict[str, int], list[str]]:
    """The views' counts (see view_counts) and the labels in use on the recent conversations the
    caller may see (the label filter's suggestions)."""
    recent = await recent_scored(svc, COUNT_WINDOW, None)
    convs = [c for c in await svc.store.get_many([cid for cid, _ in recent]) if can_view(who, c)]
    labels = sorted({label for c in convs for label in c.labels})
    if filters is None:
        active = [c for c in convs if c.status is not Status.RESOLVED]
        trouble = await send_trouble(svc.client, [c.id for c in active])
        return {view: sum(1 for c in active if in_view(view, who, c, trouble[c.id])) for view in VIEWS}, labels
    trouble = await send_trouble(svc.client, [c.id for c in convs])
    return {
        view: sum(1 for c in convs if replace(filters, view=view, q=None).matches(who, c, trouble[c.id]))
        for view in VIEWS
    }, labels


async def labels_in_use(svc: Services, who: Principal, window: int = 300) -> list[str]:
    """Labels on the recent conversations the caller may see: suggestions when labelling."""
    recent = await recent_scored(svc, window, None)
    convs = await svc.store.get_many([cid for cid, _ in recent])
    return sorted({label for c in convs if can_view(who, c) for label in c.labels})


async def contact_of(svc: Services, contact_id: str) -> Contact | None:
    return await svc.store.contact(contact_id)
