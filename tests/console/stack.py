"""A running desk for browser tests: console on uvicorn, router and sender loops, and the
Telegram emulator as the platform. Also seeds varied demo data for screenshots."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.async_api import Browser, async_playwright

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.emulation import serve
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.telegram import TelegramConnector
from helpline.connectors.telegram.emulator import create_app as telegram_emulator
from helpline.routing.models import Author, InboundMessage, MessageKind
from helpline.routing.sender import Sender, run_promoter
from tests.factories import router_consumer, sender_consumer

from .helpers import Desk

TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Stack:
    desk: Desk
    url: str
    emulator: httpx.AsyncClient
    browser: Browser

    async def customer(self, user_id: int, text: str) -> InboundMessage:
        """A customer writes privately to the bot on the emulator; the message is ingested as the
        connector would ingest it."""
        r = await self.emulator.post(
            "/_emulator/customer-messages",
            json={
                "user": {"id": user_id, "handle": f"user{user_id}", "name": f"Customer {user_id}"},
                "text": text,
                "kind": "direct",
            },
        )
        sent = r.json()
        m = InboundMessage(
            platform="telegram",
            account="support",
            kind=MessageKind.DIRECT,
            message_id=f"{sent['chat_id']}:{sent['message_id']}",
            thread_key=f"chat:{sent['chat_id']}",
            author=Author(user_id=str(user_id), handle=f"@user{user_id}", display_name=f"Customer {user_id}"),
            text=text,
            language="en",
            platform_time=datetime.now(UTC),
        )
        await self.desk.parts.bus.ingest([m])
        return m

    async def sent(self) -> list[dict[str, Any]]:
        return list((await self.emulator.get("/_emulator/sent")).json()["messages"])


@contextlib.asynccontextmanager
async def running(desk: Desk) -> AsyncIterator[Stack]:
    emulator_app = telegram_emulator(token=TOKEN, bot_username="helpline_bot")
    stop = asyncio.Event()
    async with (
        serve(emulator_app) as emulator_url,
        httpx.AsyncClient(base_url=emulator_url) as emulator,
        contextlib.AsyncExitStack() as cleanup,
    ):
        files = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="helpline-files-"))
        settings = AccountSettings(
            platform="telegram",
            name="support",
            base_url=emulator_url,
            secrets={"token": "HL_TG_TOKEN"},
            options={"long_poll_timeout": 0, "attachments_dir": files},
        )
        connector = TelegramConnector(settings, ConnectorContext(ingest=desk.parts.bus.ingest, redis=desk.parts.client))
        async with connector:
            desk.parts.connectors[("telegram", "support")] = connector
            sender = Sender(
                desk.parts.client,
                {("telegram", "support"): connector},
                desk.parts.store.partitions,
                limiter=SharedRateLimiter(desk.parts.client),
            )
            router_loop = router_consumer(desk.parts, desk.router, name="browser-router")
            sender_loop = sender_consumer(desk.parts, sender, name="browser-sender")
            for loop in (router_loop, sender_loop):
                loop.block_ms = 50
            tasks = [
                asyncio.create_task(router_loop.run(stop)),
                asyncio.create_task(sender_loop.run(stop)),
                asyncio.create_task(run_promoter(sender, stop)),
            ]  # replies a rate limit deferred
            try:
                async with serve(desk.app) as url, async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                    try:
                        yield Stack(desk, url, emulator, browser)
                    finally:
                        await browser.close()
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)


async def seed(desk: Desk) -> None:
    """Conversations on every platform, in four languages, for the screenshots."""
    samples = [
        (
            "x",
            MessageKind.MENTION,
            "ko",
            "minji_k",
            "김민지",
            "@exchange 출금이 3시간째 처리 중이에요. 확인 부탁드립니다.",
        ),
        (
            "mastodon",
            MessageKind.MENTION,
            "en",
            "dana",
            "Dana Whitfield",
            "@support@exchange.social is the staking page down for everyone?",
        ),
        ("telegram", MessageKind.DIRECT, "zh", "wei", "王伟", "我的账户被锁定了，无法登录，请帮忙。"),
        ("x", MessageKind.DIRECT, "ja", "haru", "佐藤 晴", "入金がまだ反映されていません。TXIDを送ります。"),
        (
            "telegram",
            MessageKind.DIRECT,
            "en",
            "sam",
            "Sam Porter",
            "I think I clicked a phishing link and entered my 2FA code. What do I do now??",
        ),
        ("mastodon", MessageKind.DIRECT, "en", "lee", "Lee Ortega", "Can I change the email on my account?"),
    ]
    for i, (platform, kind, lang, user, name, text) in enumerate(samples):
        m = InboundMessage(
            platform=platform,
            account="main",
            kind=kind,
            message_id=f"seed-{i}",
            thread_key=f"seed-{i}",
            author=Author(user_id=user, handle=f"@{user}", display_name=name),
            text=text,
            language=lang,
            platform_time=datetime.now(UTC),
        )
        await desk.parts.bus.ingest([m])
