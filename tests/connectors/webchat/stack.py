"""A running desk with a web chat account: the console (with the widget's endpoints) on uvicorn,
the router with the help-center bot, the sender, and a stand-in company site on its own origin."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from fastapi import FastAPI

from helpline.connectors.emulation import free_port, serve
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.webchat.demo_site import demo_site
from helpline.console.roles import Role
from helpline.console.users import UserStore
from helpline.routing.models import Attachment, Author, InboundMessage, MessageKind, Presence
from helpline.routing.sender import Sender
from tests.factories import Parts, build_router, create_app, parts, router_consumer, sender_consumer

KB = Path(__file__).resolve().parents[3] / "kb"
SECRET = "the-site-identity-secret"
PASSWORD = "correct horse battery"


@dataclass
class Chat:
    parts: Parts
    app: FastAPI
    url: str  # the console: the widget's endpoints are under /webhooks/webchat/site
    site: str  # the company's site, embedding the widget

    @property
    def base(self) -> str:
        return f"{self.url}/webhooks/webchat/site"


def chat_parts(r: redis.Redis, origin: str, desk: dict[str, Any] | None = None, **options: Any) -> Parts:
    """`desk`: settings besides the web chat account (teams, more `accounts`)."""
    desk = dict(desk or {})
    site = {
        "platform": "webchat",
        "name": "site",
        "mode": "webhook",
        "secrets": {"identity_secret": "HL_WEBCHAT_SECRET"},
        "options": {"allowed_origins": [origin], "identity": "optional", **options},
    }
    p = parts(
        r,
        accounts=[site, *desk.pop("accounts", [])],
        bots={"helpcenter": {"type": "helpcenter", "kb": str(KB)}},
        rules=[{"name": "the bot first", "set": {"bot": "helpcenter"}}],
        survey={"enabled": False},
        **desk,
    )
    p.make_connectors()
    return p


@contextlib.asynccontextmanager
async def running(
    r: redis.Redis,
    transport: str | None = None,
    desk: dict[str, Any] | None = None,
    agent_online: bool = True,
    **options: Any,
) -> AsyncIterator[Chat]:
    """`agent_online=False`: nobody takes a conversation, it waits in the team's queue."""
    site_port, console_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{site_port}"
    p = chat_parts(r, origin, desk, **options)
    app = create_app(p)
    users = UserStore(r)
    await users.add("amy", PASSWORD, Role.AGENT, name="Amy Agent", teams=["support"], languages=["en", "ko"])
    await p.sync_roster()
    await p.assignments.set_presence("amy", Presence.ONLINE if agent_online else Presence.OFFLINE)
    stop = asyncio.Event()
    router_loop = router_consumer(p, build_router(p), name="chat-router")
    sender_loop = sender_consumer(
        p, Sender(r, p.connectors, p.settings.redis.partitions, limiter=SharedRateLimiter(r)), name="chat-sender"
    )
    for loop in (router_loop, sender_loop):
        loop.block_ms = 50
    tasks = [asyncio.create_task(router_loop.run(stop)), asyncio.create_task(sender_loop.run(stop))]
    try:
        async with serve(app, port=console_port) as url:
            script = f"{url}/webhooks/webchat/site/webchat.js"
            async with serve(demo_site(script, SECRET, transport), port=site_port) as site:
                yield Chat(p, app, url, site)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def mailing_desk(tmp_path: Path) -> dict[str, Any]:
    """`running`'s `desk` with the e-mail account `support` (never polled here), whose store keeps
    the files of visitors' answers by mail; the web chat names it with `email_account="support"`."""
    mail = {
        "platform": "email",
        "name": "support",
        "secrets": {"username": "HL_MAIL_USER", "password": "HL_MAIL_PASSWORD"},
        "options": {
            "address": "support@example.com",
            "imap_host": "127.0.0.1",
            "smtp_host": "127.0.0.1",
            "attachments_dir": str(tmp_path / "mail-files"),
        },
    }
    return {"accounts": [mail]}


async def kept_by_mail(chat: Chat, data: bytes, name: str) -> Attachment:
    """A file as the e-mail account keeps one that came with a mail."""
    store = chat.parts.connectors[("email", "support")].files
    assert store is not None
    kept = await store.keep(data, name, "application/pdf", "attachment-1")
    assert isinstance(kept, Attachment)
    return kept


def mailed_answer(
    chat_id: str,
    owner: str,
    text: str,
    *files: Attachment,
    message_id: str = "a2@example.com",
    auto_submitted: bool = False,
) -> InboundMessage:
    """What the e-mail poller hands the web chat for a visitor's answer by mail: the mail itself
    (kept as `original.eml`) and its files."""
    return InboundMessage(
        platform="webchat",
        account="site",
        kind=MessageKind.DIRECT,
        message_id=message_id,
        thread_key=chat_id,
        author=Author(user_id=owner, handle="ann@example.com"),
        text=text,
        attachments=(Attachment(kind="original", platform_file_id="0" * 64, file_name="original.eml"), *files),
        auto_submitted=auto_submitted,
        platform_time=datetime.now(UTC),
    )


async def until(check: Callable[[], Awaitable[bool]], wait: float = 30.0) -> bool:
    """Whether `check` came true within `wait` seconds (asked every 50 ms: no longer than needed)."""
    deadline = time.monotonic() + wait
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def thread_of(chat: Chat, chat_id: str) -> str:
    """The conversation a web chat became, once the router (another task, slow under load) threads it."""
    found: list[str] = []

    async def threaded() -> bool:
        cid = await chat.parts.store.find_thread("webchat", "site", chat_id)
        found.extend([cid] if cid else [])
        return bool(cid)

    assert await until(threaded), "the router did not thread the chat"
    return found[0]
