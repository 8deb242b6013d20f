"""The two-mode composer without JavaScript: one form, its mode decides reply or note."""

from __future__ import annotations

from helpline.routing.models import EventType

from .helpers import Desk


async def test_the_composer_form_sends_in_its_mode(desk: Desk) -> None:
    cid = await desk.conversation("hello")
    c, csrf = await desk.login("sue")
    note = await c.post(f"/c/{cid}/do/send", data={"csrf_token": csrf, "mode": "note", "text": "team only"})
    reply = await c.post(
        f"/c/{cid}/do/send", data={"csrf_token": csrf, "mode": "reply", "text": "to you", "idempotency_key": "k1"}
    )
    assert note.status_code == reply.status_code == 303
    events = await desk.parts.store.events(cid)
    assert [(e.type, e.data.get("text")) for e in events if e.type in (EventType.NOTE, EventType.REPLY_QUEUED)] == [
        (EventType.NOTE, "team only"),
        (EventType.REPLY_QUEUED, "to you"),
    ]
