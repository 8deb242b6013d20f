"""The e-mail copy of a web chat answer, on the real servers: a visitor who left an address gets
the agent's answer by mail too (through the e-mail account the web chat names); the conversation
records whether it went (sent, or failed with the reason), and the customer's answer to that mail
comes back into the same web chat conversation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import websockets

from helpline.config import Settings
from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.emulation import serve
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.runner import PollRunner
from helpline.console.roles import Role
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.models import EventType, InboundMessage
from helpline.routing.sender import Sender
from helpline.routing.store import contact_id_of
from tests.connectors.email.conftest import account
from tests.connectors.email.test_send import customer_inbox, parse_mail_message, write
from tests.factories import Parts, build_router, create_app, route_all

SITE = "https://www.example.com"


class ChatDesk:
    """A web chat account whose answers are also mailed through the e-mail account, with the
    console (the widget's endpoints and the agents' API), the router, the sender and the poller."""

    def __init__(self, r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path) -> None:
        site = {
            "platform": "webchat",
            "name": "site",
            "mode": "webhook",
            "secrets": {},
            "options": {"allowed_origins": [SITE], "identity": "off", "email_account": "support"},
        }
        settings = Settings(
            redis={"url": "redis://unused", "partitions": 4},
            accounts=[account(dovecot, relay, tmp_path, idle=False), site],
            teams=[{"id": "support", "default": True}],
            console={"public_url": "http://127.0.0.1:9"},
        )
        self.parts = p = Parts.build(settings, r)
        p.make_connectors()
        self.router = build_router(p)
        sender = Sender(r, p.connectors, settings.redis.partitions, limiter=SharedRateLimiter(r))
        self.consumer = StreamConsumer(
            r,
            keys.SENDER_GROUP,
            "s1",
            sender.streams(),
            sender.handle_batch,
            sender.dead_letter_key,
            block_ms=5,
            retry_idle_ms=30,
        )
        self.poller = PollRunner(r, p.connectors[("email", "support")])
        self.app = create_app(p)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console.test")

    async def widget(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"/webhooks/webchat/site/{path}", json=body, headers={"Origin": SITE})
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def visitor_leaves_address(self, address: str) -> str:
        """A visitor writes, is routed, and leaves an address for the answer; returns the conversation."""
        self.token = token = (await self.widget("session", {}))["token"]
        said = {"token": token, "id": "widget-msg-1", "text": "My deposit is missing"}
        self.chat = chat = (await self.widget("messages", said))["chat"]
        await route_all(self.parts, self.router)
        await self.widget("email", {"token": token, "chat": chat, "email": address})
        cid = await self.parts.store.find_thread("webchat", "site", chat)
        assert cid is not None
        return cid

    async def agent(self) -> dict[str, str]:
        token, _ = await self.app.state.console.tokens.create("test", "amy", Role.AGENT)
        return {"Authorization": f"Bearer {token}"}

    async def agent_replies(self, cid: str, text: str) -> None:
        token, _ = await self.app.state.console.tokens.create("test", "amy", Role.AGENT)
        response = await self.http.post(
            f"/api/v1/conversations/{cid}/reply", json={"text": text}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        await self.consumer.ensure_groups()
        for _ in range(3):
            await self.consumer.step()

    async def timeline(self, cid: str) -> list[dict[str, Any]]:
        token, _ = await self.app.state.console.tokens.create("test", "amy", Role.AGENT)
        response = await self.http.get(f"/api/v1/conversations/{cid}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["timeline"]
        return items


@pytest.fixture
async def chat_desk(r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path) -> ChatDesk:
    d = ChatDesk(r, dovecot, relay, tmp_path)
    await d.app.state.console.users.add("amy", "correct horse battery", Role.AGENT, name="Amy", teams=["support"])
    return d


async def test_the_mailed_copy_of_an_answer_is_an_event_sent_or_failed_with_the_reason(
    chat_desk: ChatDesk, dovecot: Dovecot, relay: Relay
) -> None:
    d = chat_desk
    cid = await d.visitor_leaves_address("ann@example.com")
    await d.agent_replies(cid, "Your deposit arrived this morning.")
    [mail] = await customer_inbox(dovecot)
    assert "Your deposit arrived this morning." in mail.get_body(("plain",)).get_content()
    relay.refuse["ann@example.com"] = "550 5.1.1 mailbox unavailable"
    await d.agent_replies(cid, "One more thing: it shows in your history now.")

    events = [e for e in await d.parts.store.events(cid) if e.type in (EventType.REPLY_SENT, EventType.REPLY_FAILED)]
    assert [(e.type, e.reason) for e in events] == [
        (EventType.REPLY_SENT, "e-mail copy to ann@example.com: sent"),
        (
            EventType.REPLY_FAILED,
            "e-mail copy to ann@example.com: smtp refused the recipient: 5.1.1 mailbox unavailable",
        ),
    ]
    assert [e.data["reply_id"] for e in events] == [f"{r}:email" for r in await replies_of(d, cid)]
    shown = [(i["event"], i["reason"]) for i in await d.timeline(cid) if i["kind"] == "event"]
    assert ("reply_sent", "e-mail copy to ann@example.com: sent") in shown  # agents see it in the timeline
    assert ("reply_failed", events[1].reason) in shown
    delivered = [i["delivery"] for i in await d.timeline(cid) if i["kind"] == "reply" and i["author"] == "agent:amy"]
    assert delivered == ["sent", "sent"]  # the chat got both answers: only the second mail failed
    await d.http.aclose()


async def replies_of(d: ChatDesk, cid: str) -> list[str]:
    return [
        str(e.data["reply_id"])
        for e in await d.parts.store.events(cid)
        if e.type is EventType.REPLY_QUEUED and e.actor.startswith("agent:")
    ]


@pytest.mark.parametrize("keeps", ["in-reply-to", "references", "plus-address", "subject-token"])
async def test_the_customers_answer_to_the_mailed_copy_continues_the_web_chat_conversation(
    chat_desk: ChatDesk, dovecot: Dovecot, keeps: str
) -> None:
    d = chat_desk
    cid = await d.visitor_leaves_address("ann@example.com")
    await d.agent_replies(cid, "Your deposit arrived this morning.")
    [copy] = await customer_inbox(dovecot)
    headers = {
        "in-reply-to": {"In_Reply_To": copy["Message-ID"]},
        "references": {"References": copy["Message-ID"]},
        "plus-address": {},
        "subject-token": {},
    }[keeps]  # as the customer's mail client keeps them
    subject = copy["Subject"] if keeps == "subject-token" else "Re: your deposit"
    mail = parse_mail_message(
        write(
            subject,
            "Thanks! Where do I see it?\n\n> Your deposit arrived this morning.",
            ident="a1@example.com",
            **headers,
        )
    )
    if keeps == "plus-address":  # answered to the copy's Reply-To: support+<token>@
        del mail["To"]
        mail["To"] = copy["Reply-To"]
    dovecot.append("support", bytes(mail))
    for _ in range(3):
        await d.poller.poll_once()
    await route_all(d.parts, d.router)

    answer = (await d.parts.store.messages(cid))[-1]
    assert (answer.message_id, answer.text) == ("a1@example.com", "Thanks! Where do I see it?")
    conv = await d.parts.store.get(cid)
    assert conv is not None and conv.platform == "webchat" and conv.contact_id == contact_of(answer)
    assert [c for c in await d.parts.store.get_many(await d.parts.store.recent()) if c.platform == "email"] == []
    assert any(i["kind"] == "message" and i["text"] == "Thanks! Where do I see it?" for i in await d.timeline(cid))

    await d.agent_replies(cid, "Under History, at the top.")  # and the next copy answers that mail
    *_, second = await customer_inbox(dovecot)
    assert second["In-Reply-To"] == "<a1@example.com>" and copy["Message-ID"] in second["References"]
    await d.http.aclose()


def contact_of(message: InboundMessage) -> str:
    return contact_id_of(message.platform, message.account, message.author.user_id)


async def test_the_answer_by_mail_shows_in_the_widget_once_with_its_files_kept_for_the_agents(
    chat_desk: ChatDesk, dovecot: Dovecot
) -> None:
    """Over uvicorn: the widget, connected by WebSocket, sees the visitor's answer by mail as soon
    as the poller reads it, and once only though the mailbox is read again (a crash before the
    cursor was stored); a widget resuming over server-sent events gets it too. Its PDF is stored and
    an agent downloads it from the conversation; the file the store refused is named in the text."""
    d = chat_desk
    cid = await d.visitor_leaves_address("ann@example.com")
    await d.agent_replies(cid, "Your deposit arrived this morning.")
    [copy] = await customer_inbox(dovecot)
    answer = parse_mail_message(write("Re: your deposit", "Here is my statement.", ident="a2@example.com"))
    answer["In-Reply-To"] = copy["Message-ID"]
    answer.add_attachment(b"%PDF-1.4 statement", maintype="application", subtype="pdf", filename="statement.pdf")
    answer.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="run.exe")

    async with serve(d.app) as url:
        widget = f"{url.replace('http', 'ws')}/webhooks/webchat/site/ws"
        async with websockets.connect(widget, origin=SITE) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "hello", "token": d.token, "chat": d.chat, "after": "0"}))
            seen = await frames(ws, wait=1.0)
            assert (seen[-1]["from"], seen[-1]["text"]) == ("agent", "Your deposit arrived this morning.")
            dovecot.append("support", bytes(answer))
            await d.poller.poll_once()
            [shown] = await frames(ws, wait=2.0)
            await d.parts.client.delete(keys.cursor("email", "support", "main"))  # read it all again
            await d.poller.poll_once()
            assert await frames(ws, wait=1.0) == []  # shown once
        assert {k: v for k, v in shown.items() if k != "id"} == {
            "type": "message",
            "from": "visitor",
            "text": "Here is my statement.\n\n"
            "[attachment not kept: run.exe (application/x-msdownload): type not allowed]",
            "via": "email",
            "files": [{"name": "statement.pdf", "size": 18}],
        }
        asked = {"token": d.token, "chat": d.chat, "event": shown["id"], "file": 0}
        got = await d.http.post("/webhooks/webchat/site/file", json=asked, headers={"Origin": SITE})
        assert (got.status_code, got.content) == (200, b"%PDF-1.4 statement")  # the visitor downloads it
        async with (
            httpx.AsyncClient(base_url=url) as http,
            http.stream(
                "POST",
                "/webhooks/webchat/site/events",
                content=json.dumps({"token": d.token, "chat": d.chat, "after": seen[-1]["id"]}),
                headers={"Origin": SITE, "content-type": "text/plain"},
            ) as sse,
        ):
            data = [json.loads(line[6:]) async for line in first_lines(sse.aiter_lines(), "data: ", 1)]
        assert data == [shown]  # a widget that was away gets it from its last event id

        await route_all(d.parts, d.router)
        [message] = [m for m in await d.parts.store.messages(cid) if m.message_id == "a2@example.com"]
        files = {a.file_name: a.platform_file_id for a in message.attachments}
        assert set(files) == {"original.eml", "statement.pdf"}
        item = next(i for i in await d.timeline(cid) if i["kind"] == "message" and i["text"] == message.text)
        assert [a["name"] for a in item["data"]["attachments"]] == ["original.eml", "statement.pdf"]
        async with httpx.AsyncClient(base_url=url, headers=await d.agent()) as agent:
            pdf = await agent.get(f"/api/v1/conversations/{cid}/attachments/{files['statement.pdf']}")
            assert (pdf.status_code, pdf.content) == (200, b"%PDF-1.4 statement")
            original = await agent.get(f"/api/v1/conversations/{cid}/attachments/{files['original.eml']}")
            assert original.status_code == 200 and b"Here is my statement." in original.content
            other = await agent.get(f"/api/v1/conversations/{cid}/attachments/{'0' * 64}")
            assert other.status_code == 404
    await d.http.aclose()


async def frames(ws: Any, wait: float) -> list[dict[str, Any]]:
    """The widget's frames until none comes for `wait` seconds."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=wait)))
        except TimeoutError:
            return got


async def first_lines(lines: AsyncIterator[str], prefix: str, count: int) -> AsyncIterator[str]:
    """The first `count` lines starting with `prefix` (an event stream never ends by itself)."""
    async for line in lines:
        if line.startswith(prefix):
            yield line
            count -= 1
            if count == 0:
                return
