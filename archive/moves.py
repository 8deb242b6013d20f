"""Messages split off a conversation leave its record: a LINKED event naming `moved_messages`
(an agent split a new topic off) deletes those messages from the old conversation's rows and
rebuilds its search document, so search finds the text once, in the conversation it moved to.

Runs inside the batch's transaction, after its rows are written. Idempotent: deleting what is
gone already and rebuilding the same document change nothing, so a replayed batch is harmless.
A conversation whose whole history came again (`Batch.reread`) brings the moved messages back
with it; the moves archived earlier are read from its events and applied again.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import contacts, conversations, events, messages
from .tokens import document

LINKED = "linked"
_TEXT_EVENTS = ("reply_queued", "note")


def moved_by(raw_events: Iterable[str | bytes]) -> set[str]:
    """The message ids these events (JSON, as Redis holds them) say were split off."""
    found: set[str] = set()
    for raw in raw_events:
        e = orjson.loads(raw)
        moved = (e.get("data") or {}).get("moved_messages") if e.get("type") == LINKED else None
        if isinstance(moved, list):
            found.update(str(m) for m in moved)
    return found


async def move_out(conn: AsyncConnection, moves: dict[str, set[str]], reread: Iterable[str]) -> dict[str, str]:
    """Delete the moved messages from their old conversations' rows; returns the rebuilt search
    documents of the conversations that had any (the caller refreshes its search index)."""
    wanted = {cid: set(ids) for cid, ids in moves.items()}
    again = [cid for cid in reread if cid not in wanted]
    if again:
        e = events.c
        found = await conn.execute(
            select(e.conversation_id, e.raw).where(e.conversation_id.in_(again), e.type == LINKED)
        )
        for cid, raw in found:
            wanted.setdefault(cid, set()).update(moved_by([raw]))
    documents: dict[str, str] = {}
    for cid, ids in wanted.items():
        if not ids:
            continue
        m = messages.c
        await conn.execute(delete(messages).where(m.conversation_id == cid, m.message_id.in_(sorted(ids))))
        documents[cid] = await _document(conn, cid)
        await conn.execute(update(conversations).where(conversations.c.id == cid).values(document=documents[cid]))
    return documents


async def _document(conn: AsyncConnection, cid: str) -> str:
    """The conversation's search document from what its record holds now (`snapshot` builds the
    same texts incrementally)."""
    m, e, c = messages.c, events.c, conversations.c
    texts: list[str] = []
    for text, handle, name in await conn.execute(
        select(m.text, m.author_handle, m.author_name).where(m.conversation_id == cid).order_by(m.seq)
    ):
        texts += (text, handle, name)
    for raw in (
        await conn.execute(select(e.raw).where(e.conversation_id == cid, e.type.in_(_TEXT_EVENTS)).order_by(e.seq))
    ).scalars():
        data = orjson.loads(raw).get("data") or {}
        if isinstance(data.get("text"), str):
            texts.append(data["text"])
    row = (
        await conn.execute(
            select(c.labels, contacts.c.handle, contacts.c.display_name)
            .select_from(conversations.outerjoin(contacts, contacts.c.id == c.contact_id))
            .where(c.id == cid)
        )
    ).first()
    if row is not None:
        texts += orjson.loads(row.labels or "[]")
        texts += (row.handle or "", row.display_name or "")
    return document(texts)
