"""The widget's endpoints over real HTTP and WebSockets (uvicorn), on a real Redis: sessions and
verified identities, origins, ownership by token, limits, and resuming from an event id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import websockets

from helpline.connectors.base import SendProgress
from helpline.connectors.webchat.connector import WebchatConnector
from helpline.connectors.webchat.identity import token_hash, user_hmac
from helpline.routing import keys
from helpline.routing.models import (
    MessageKind,
    OutboundReply,
    ReplyButton,
    Visibility,
)

from .stack import SECRET, Chat, kept_by_mail, mailed_answer, mailing_desk, running, thread_of, until


class Visitor:
    def __init__(self, chat: Chat, http: httpx.AsyncClient, origin: str | None = None) -> None:
        self.base = chat.base
        self.http = http
        self.headers = {"origin": origin or chat.site, "content-type": "text/plain"}
        self.token: str | None = None
        self.chat: str | None = None
        self.n = 0

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(self.base + path, content=json.dumps(body), headers=self.headers)

    async def session(self, **identity: str) -> httpx.Response:
        response = await self.post("/session", {"token": self.token, **identity})
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    async def say(self, text: str, message_id: str | None = None, **extra: Any) -> httpx.Response:
        self.n += 1
        response = await self.post(
            "/messages",
            {
                "token": self.token,
                "chat": self.chat,
                "text": text,
                "id": message_id or f"message-{self.n:04d}",
                **extra,
            },
        )
        if response.status_code == 200:
            self.chat = response.json()["chat"]
        return response


async def chatting(chat: Chat, http: httpx.AsyncClient, text: str) -> Visitor:
    """A visitor with a session who has started a chat with `text`."""
    v = Visitor(chat, http)
    await v.session()
    await v.say(text)
    return v


async def events(chat: Chat, visitor: Visitor, after: str = "0", wait: int = 1) -> list[dict[str, Any]]:
    """What the widget would receive over the WebSocket from `after`, for `wait` seconds."""
    got: list[dict[str, Any]] = []
    uri = chat.base.replace("http", "ws") + "/ws"
    async with websockets.connect(uri, origin=visitor.headers["origin"]) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "hello", "token": visitor.token, "chat": visitor.chat, "after": after}))
        try:
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=wait)))
        except (TimeoutError, websockets.ConnectionClosed):
            return got


async def test_a_visitor_chats_and_resumes_from_the_last_event_id(r: redis.Redis) -> None:
    async with running(r) as chat, httpx.AsyncClient() as http:
        v = Visitor(chat, http)
        assert (await v.session()).json()["chats"] == []
        first = v.token
        assert (await v.session()).json()["token"] == first  # the same visitor keeps its token
        sent = await v.say("How do I set up 2FA?", "resend-0001")
        assert sent.status_code == 200
        again = await v.say("How do I set up 2FA?", "resend-0001")  # a resend (lost answer): once
        assert again.json() == sent.json()
        seen = await events(chat, v, wait=3)
        assert [e["from"] for e in seen][:2] == ["visitor", "bot"]  # the bot answered through the sender
        assert sum(1 for e in seen if e["from"] == "visitor") == 1
        assert "2FA" in seen[1]["text"] or "2fa" in seen[1]["text"].lower()
        after = seen[-1]["id"]
        await v.say("yes")
        later = await events(chat, v, after=after, wait=2)
        assert later and all(e["id"] > after for e in later) and later[0]["text"] == "yes"
        history = (await v.session()).json()["chats"]  # the history list
        assert [(c["chat"], c["title"]) for c in history] == [(v.chat, "How do I set up 2FA?")]


async def test_origins_outside_the_allow_list_are_refused(r: redis.Redis) -> None:
    async with running(r) as chat, httpx.AsyncClient() as http:
        stranger = Visitor(chat, http, origin="https://evil.example")
        refused = await stranger.session()
        assert refused.status_code == 403 and "origin" in refused.json()["error"]
        assert "access-control-allow-origin" not in refused.headers
        no_origin = await http.post(chat.base + "/session", content="{}")
        assert no_origin.status_code == 403
        v = Visitor(chat, http)
        ok = await v.session()
        assert ok.headers["access-control-allow-origin"] == chat.site
        await v.say("hello")
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(chat.base.replace("http", "ws") + "/ws", origin="https://evil.example"):  # type: ignore[arg-type]
                pass


async def test_a_chat_is_reached_by_its_owners_token_not_by_its_id(r: redis.Redis) -> None:
    async with running(r) as chat, httpx.AsyncClient() as http:
        owner, other = Visitor(chat, http), Visitor(chat, http)
        await owner.session()
        await other.session()
        await owner.say("my account number is 12345")
        other.chat = owner.chat
        assert (await other.say("let me in")).status_code == 404
        assert (await other.post("/events", {"token": other.token, "chat": owner.chat})).status_code == 404
        got = await events(chat, other)
        assert got == [{"type": "error", "status": 404, "error": "no such chat"}]
        forged = Visitor(chat, http)
        forged.token, forged.chat = "x" * 43, owner.chat
        assert (await forged.say("hi")).status_code == 401


async def test_limits_length_and_attachments(r: redis.Redis) -> None:
    async with running(r, max_length=50, visitor_per_minute=2, ip_per_minute=6) as chat, httpx.AsyncClient() as http:
        v = Visitor(chat, http)
        await v.session()
        too_long = await v.say("x" * 51)
        assert too_long.status_code == 413 and "50 characters" in too_long.json()["error"]
        attached = await v.say("see the screenshot", attachments=[{"name": "a.png"}])
        assert attached.status_code == 415 and "attachments are not supported" in attached.json()["error"]
        statuses = [(await v.say(f"message {i}")).status_code for i in range(8)]
        assert statuses[:5] == [200] * 5 and 429 in statuses  # a burst of 5, then 2 a minute
        refused = await v.say("more")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        v.chat = None  # a new chat asked for while over the limit: refused, and nothing is created
        assert (await v.say("a new chat")).status_code == 429
        assert len((await v.session()).json()["chats"]) == 1
        # per address: other visitors from the same address share its budget
        others = [Visitor(chat, http) for _ in range(3)]
        codes = []
        for o in others:
            await o.session()
            codes += [(await o.say(f"hi {i}")).status_code for i in range(3)]
        assert 429 in codes


async def test_verified_identity_and_enforce_mode(r: redis.Redis) -> None:
    async with running(r, identity="enforce") as chat, httpx.AsyncClient() as http:
        v = Visitor(chat, http)
        anonymous = await v.session()
        assert anonymous.status_code == 403 and "verified identity" in anonymous.json()["error"]
        forged = await v.session(user_id="42", user_hash=user_hmac("guess", "42"))
        assert forged.status_code == 403 and "could not be verified" in forged.json()["error"]
        other_user = await v.session(user_id="43", user_hash=user_hmac(SECRET, "42"))
        assert other_user.status_code == 403
        ok = await v.session(user_id="42", user_hash=user_hmac(SECRET, "42"))
        assert ok.status_code == 200
        await v.say("where is my deposit?")
        conversation = await chat.parts.store.get(await thread_of(chat, str(v.chat)))
        assert conversation is not None and conversation.contact_id.endswith("user:42")
        # an anonymous token issued before the account was switched to enforce mode no longer works
        connector = chat.parts.connectors[("webchat", "site")]
        assert isinstance(connector, WebchatConnector)
        old = Visitor(chat, http)
        old.token = "t" * 43
        await connector.chats.open_session(str(token_hash(old.token)), "anon:before")
        refused = await old.say("still here?")
        assert refused.status_code == 403 and "verified identity" in refused.json()["error"]


async def test_send_appends_a_reply_once_per_reply_id(r: redis.Redis) -> None:
    async with running(r) as chat, httpx.AsyncClient() as http:
        v = await chatting(chat, http, "hello")
        connector = chat.parts.connectors[("webchat", "site")]
        assert isinstance(connector, WebchatConnector)
        reply = OutboundReply(
            reply_id="r-1",
            conversation_id="c",
            platform="webchat",
            account="site",
            kind=MessageKind.DIRECT,
            thread_key=str(v.chat),
            visibility=Visibility.PRIVATE,
            text="Did this solve it?",
            sender="bot:helpcenter",
            buttons=(ReplyButton(label="Yes", data="yes"),),
        )
        one = await connector.send(reply, SendProgress())
        two = await connector.send(reply, SendProgress())
        assert one == two
        got = [e for e in await events(chat, v, wait=2) if e["text"] == "Did this solve it?"]
        assert len(got) == 1 and got[0]["buttons"] == [{"label": "Yes", "data": "yes"}]


async def test_live_connections_per_address_and_frame_size_are_bounded(r: redis.Redis) -> None:
    from helpline.connectors.webchat.web import MAX_STREAMS_PER_ADDRESS

    async with running(r) as chat, httpx.AsyncClient() as http:
        v = await chatting(chat, http, "hello")
        uri = chat.base.replace("http", "ws") + "/ws"
        hello = json.dumps({"type": "hello", "token": v.token, "chat": v.chat, "after": "0"})
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(MAX_STREAMS_PER_ADDRESS):
                ws = await stack.enter_async_context(websockets.connect(uri, origin=chat.site))  # type: ignore[arg-type]
                await ws.send(hello)
                assert json.loads(await ws.recv())["from"] == "visitor"
            async with websockets.connect(uri, origin=chat.site) as extra:  # type: ignore[arg-type]
                await extra.send(hello)
                refused = json.loads(await extra.recv())
                assert refused == {"type": "error", "status": 429, "error": "too many open chats from this address"}
            sse = await v.post("/events", {"token": v.token, "chat": v.chat})
            assert sse.status_code == 429
        await asyncio.sleep(0.2)
        async with websockets.connect(uri, origin=chat.site) as ws:  # type: ignore[arg-type]
            await ws.send(hello)  # the slots were given back
            assert json.loads(await ws.recv())["from"] == "visitor"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.send(json.dumps({"type": "message", "id": "big-00001", "text": "x" * 100_000}))
                for _ in range(10):  # the bot's answer to "hello" may come first
                    assert json.loads(await ws.recv()).get("type") != "error"
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


async def test_a_malformed_first_frame_closes_the_socket_cleanly(r: redis.Redis) -> None:
    async with running(r) as chat:
        uri = chat.base.replace("http", "ws") + "/ws"
        for frame in (b"\x00\x01", "not json", json.dumps({"type": "message"})):
            async with websockets.connect(uri, origin=chat.site) as ws:  # type: ignore[arg-type]
                await ws.send(frame)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, frame


async def test_an_agent_typing_is_shown_to_the_connected_visitor_and_never_replayed(r: redis.Redis) -> None:
    async with running(r) as chat, httpx.AsyncClient() as http:
        v = await chatting(chat, http, "hello")
        connector = chat.parts.connectors[("webchat", "site")]
        assert isinstance(connector, WebchatConnector)
        uri = chat.base.replace("http", "ws") + "/ws"
        async with websockets.connect(uri, origin=chat.site) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "hello", "token": v.token, "chat": v.chat, "after": "0"}))
            assert json.loads(await ws.recv())["from"] == "visitor"
            await asyncio.sleep(0.3)
            await connector.typing(str(v.chat))
            got = []
            while not got or got[-1]["type"] != "typing":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=5)))
            assert got[-1]["from"] == "agent"
        replayed = await events(chat, v, wait=1)
        assert replayed and all(e["type"] == "message" for e in replayed)
        await connector.typing("no-such-chat-000000000")  # an unknown chat: nothing is stored
        assert not await r.exists(keys.webchat_signals("site", "no-such-chat-000000000"))


async def test_the_console_signals_typing_only_for_a_reply_not_for_a_note(r: redis.Redis) -> None:
    from helpline.console.roles import Role

    async with running(r) as chat, httpx.AsyncClient() as http:
        v = await chatting(chat, http, "I want to talk to a human")
        cid = await thread_of(chat, str(v.chat))
        token, _ = await chat.app.state.console.tokens.create("test", "amy", Role.AGENT)
        signals = keys.webchat_signals("site", str(v.chat))
        async with httpx.AsyncClient(base_url=chat.url, headers={"Authorization": f"Bearer {token}"}) as api:
            note = await api.post(f"/api/v1/conversations/{cid}/watching", json={"typing": True, "replying": False})
            assert note.status_code == 200 and await r.xlen(signals) == 0
            reply = await api.post(f"/api/v1/conversations/{cid}/watching", json={"typing": True, "replying": True})
            assert reply.status_code == 200 and await r.xlen(signals) == 1


async def test_the_visitor_typing_is_shown_to_the_agents(r: redis.Redis) -> None:
    from helpline.console.collision import watchers

    async with running(r) as chat, httpx.AsyncClient() as http:
        v = await chatting(chat, http, "hello there")
        cid = await thread_of(chat, str(v.chat))
        assert (await watchers(r, cid)).typing == []
        typed = await v.post("/typing", {"token": v.token, "chat": v.chat})
        assert typed.status_code == 200
        assert (await watchers(r, cid)).typing == [{"username": ":customer", "name": "Customer"}]
        await r.delete(keys.console_watchers(cid))
        assert (await v.post("/typing", {"token": v.token, "chat": v.chat})).status_code == 200
        assert (await watchers(r, cid)).typing == []  # within 2 s of the last report: dropped
        stranger = Visitor(chat, http)
        await stranger.session()
        assert (await stranger.post("/typing", {"token": stranger.token, "chat": v.chat})).status_code == 404
        await asyncio.sleep(2.1)
        uri = chat.base.replace("http", "ws") + "/ws"
        async with websockets.connect(uri, origin=chat.site) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "hello", "token": v.token, "chat": v.chat, "after": "0"}))
            await ws.recv()
            await ws.send(json.dumps({"type": "typing"}))

            async def customer_typing() -> bool:
                return (await watchers(r, cid)).typing == [{"username": ":customer", "name": "Customer"}]

            assert await until(customer_typing)


async def test_a_visitor_leaves_an_e_mail_address_on_their_contact(r: redis.Redis) -> None:
    async with running(r) as chat, httpx.AsyncClient() as http:
        owner, other = Visitor(chat, http), Visitor(chat, http)
        await owner.session()
        await other.session()
        await owner.say("my withdrawal is stuck")
        contact_id = f"webchat:site:anon:{str(token_hash(owner.token or ''))[:24]}"
        contact = keys.contact(contact_id)
        for bad in (
            "not an address",
            "a@b",
            "two@@example.com",
            "Ann <ann@example.com>",
            "x" * 250 + "@example.com",
            "ann@example.com\r\nBcc: all@example.com",
            42,
        ):
            refused = await owner.post("/email", {"token": owner.token, "chat": owner.chat, "email": bad})
            assert refused.status_code == 400 and "email" in refused.json()["error"], bad
        assert await r.hget(contact, "email") is None  # type: ignore[misc]
        # another visitor cannot leave an address on a chat that is not theirs
        stolen = await other.post("/email", {"token": other.token, "chat": owner.chat, "email": "eve@example.com"})
        assert stolen.status_code == 404
        left = await owner.post("/email", {"token": owner.token, "chat": owner.chat, "email": " ann@example.com "})
        assert left.status_code == 200
        assert await r.hget(contact, "email") == b"ann@example.com"  # type: ignore[misc]
        again = await owner.post("/email", {"token": owner.token, "chat": owner.chat, "email": "ann@example.com"})
        assert again.json() == left.json()  # the same address again is one event
        shown = [e for e in await events(chat, owner, wait=2) if e["type"] == "email"]
        assert shown == [{"id": left.json()["event"], "type": "email", "email": "ann@example.com"}]
        stored = await chat.parts.store.contact(contact_id)
        assert stored is not None and stored.email == "ann@example.com"


async def test_the_files_of_a_visitors_answer_by_e_mail_download_for_that_visitor_only(
    r: redis.Redis, tmp_path: Path
) -> None:
    async with running(r, desk=mailing_desk(tmp_path), email_account="support") as chat, httpx.AsyncClient() as http:
        owner, other = Visitor(chat, http), Visitor(chat, http)
        await owner.session()
        await other.session()
        await owner.say("my withdrawal is stuck")
        await other.say("and mine")
        connector = chat.parts.connectors[("webchat", "site")]
        assert isinstance(connector, WebchatConnector) and owner.chat is not None
        pdf = b"%PDF-1.4 <script>alert(1)</script>"
        kept = await kept_by_mail(chat, pdf, 'report "Q3" 3월.html')
        mailed = mailed_answer(owner.chat, await connector.chats.owner(owner.chat) or "", "Here it is.", kept)
        await connector.arrived_elsewhere(mailed, "email")
        [shown] = [e for e in await events(chat, owner, wait=2) if e.get("via") == "email"]
        assert shown["files"] == [{"name": "report _Q3_ 3월.html", "size": len(pdf)}]  # never where it is kept
        asked = {"token": owner.token, "chat": owner.chat, "event": shown["id"], "file": 0}

        got = await owner.post("/file", asked)
        assert (got.status_code, got.content) == (200, pdf)
        assert got.headers["content-type"] == "application/octet-stream"  # never shown as a page
        assert got.headers["content-disposition"] == (
            "attachment; filename=\"report _Q3_ 3_.html\"; filename*=utf-8''report%20_Q3_%203%EC%9B%94.html"
        )
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["access-control-allow-origin"] == chat.site
        assert "no-store" in got.headers["cache-control"]
        # another visitor, with their own session, gets nothing: not by the chat, not by their own
        stolen = await other.post("/file", {**asked, "token": other.token})
        assert stolen.status_code == 404
        mine = await other.post("/file", {**asked, "token": other.token, "chat": other.chat})
        assert mine.status_code == 404
        assert (await owner.post("/file", {**asked, "token": "not-a-token"})).status_code == 401
        assert (await owner.post("/file", {**asked, "file": 1})).status_code == 404  # not in the list
        assert (await owner.post("/file", {**asked, "file": "0"})).status_code == 400
        assert (await owner.post("/file", {**asked, "event": "../x"})).status_code == 400
        elsewhere = Visitor(chat, http, origin="https://evil.example")
        assert (await elsewhere.post("/file", asked)).status_code == 403
