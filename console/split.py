"""Splitting a new topic off a conversation: an agent picks customer messages that belong to a
new matter (a customer answering an old mail to ask something else), and they become a
conversation of their own.

The connector gives the messages a thread of their own (`Connector.split_thread`; e-mail moves
their Message-IDs, so a later mail answering one of them threads there, and one answering the
others stays). Copies of the messages, marked `moved_from`, are ingested into that thread like
any message, so the router creates the new conversation with everything a conversation has
(routing, assignment, SLA, the record); being split off, they get no automatic answer. A LINKED
event naming them hides them from the old conversation's timeline and, archived, takes them out
of its SQL record (`archive/moves.py`), so search finds them in the new one only. Idempotent:
a split cut short (the process died between the ingest and the event) is completed by repeating
it, which ingests nothing twice (the copies' ids are derived from the originals) and writes the
event once; a split that was completed is refused when repeated.
"""

from __future__ import annotations

import asyncio

from helpline.connectors.errors import ConnectorError
from helpline.routing.models import Conversation, EventType, InboundMessage, utcnow
from helpline.routing.store import Effects

from . import live
from .actions import event
from .errors import Conflict, Invalid
from .roles import Principal
from .services import Services

MAX_MESSAGES = 50
WAIT_FOR_ROUTER_S = 3.0  # how long the request waits to name the new conversation


def moved_id(message_id: str) -> str:
    """The id of a split-off copy: derived from the original, so a second split is deduped."""
    return "split:" + message_id if len(message_id) <= 120 else "split:" + message_id[-120:]


def moved_ids(conv_events: list[tuple[EventType, dict[str, object]]]) -> set[str]:
    """The message ids LINKED events say were split off (hidden from the conversation's timeline)."""
    found: set[str] = set()
    for type_, data in conv_events:
        moved = data.get("moved_messages")
        if type_ is EventType.LINKED and isinstance(moved, list):
            found.update(str(m) for m in moved)
    return found


async def split(svc: Services, who: Principal, conv: Conversation, message_ids: list[str]) -> tuple[str, str | None]:
    """Split these customer messages of `conv` off into a new conversation. Returns the new
    thread's key and the new conversation's id (None if the router has not created it yet)."""
    connector = svc.connectors.get((conv.platform, conv.account))
    wanted = list(dict.fromkeys(message_ids))
    if not wanted or len(wanted) > MAX_MESSAGES:
        raise Invalid(f"message_ids: give 1 to {MAX_MESSAGES} messages of the conversation")
    history = await svc.store.messages(conv.id)
    events = await svc.store.events(conv.id)
    already = moved_ids([(e.type, dict(e.data)) for e in events])
    by_id = {m.message_id: m for m in history}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise Invalid(f"message_ids: not messages of conversation {conv.id}: {', '.join(unknown[:5])}")
    chosen = [m for m in history if m.message_id in wanted and m.message_id not in already]  # in its order
    if not chosen:
        raise Invalid("message_ids: these messages were split off already")
    if all(m.message_id in wanted or m.message_id in already for m in history):
        raise Invalid("message_ids: at least one message must stay in the conversation")
    if connector is None:
        raise Conflict(f"the {conv.platform} account {conv.account} does not run in this process")
    try:
        thread_key = await connector.split_thread(conv.thread_key, chosen)
    except ConnectorError as exc:  # e.g. an original mail no longer stored (retention)
        raise Conflict(f"cannot split: {exc}") from None
    if thread_key is None:
        raise Conflict(
            f"{conv.platform} conversations cannot be split: the platform threads by chat, "
            "so later messages would still arrive in this one"
        )
    await svc.bus.ingest([_copy(m, thread_key, conv.id) for m in chosen])
    now = utcnow()
    effects = (
        Effects(conv.id)
        .once(f"split:{thread_key}")
        .event(
            event(
                conv,
                EventType.LINKED,
                who,
                f"{len(chosen)} message(s) split off into a new conversation",
                now,
                moved_messages=[m.message_id for m in chosen],
                thread_key=thread_key,
            )
        )
        .touch()
    )
    await svc.store.commit([effects], now)
    await live.publish(svc.client, [conv.id], who.username)
    return thread_key, await _wait_for(svc, conv, thread_key)


def _copy(message: InboundMessage, thread_key: str, conversation_id: str) -> InboundMessage:
    return message.model_copy(
        update={"thread_key": thread_key, "message_id": moved_id(message.message_id), "moved_from": conversation_id}
    )


async def _wait_for(svc: Services, conv: Conversation, thread_key: str) -> str | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_ROUTER_S
    while True:
        found = await svc.store.find_thread(conv.platform, conv.account, thread_key)
        if found is not None or loop.time() >= deadline:
            return found
        await asyncio.sleep(0.1)
