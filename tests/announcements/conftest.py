"""Fixtures: the three platform emulators, connectors for them, and the publishing side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from helpline.announcements.models import Target, TargetKind
from helpline.announcements.settings import AnnouncementSettings
from helpline.announcements.store import AnnouncementStore
from helpline.announcements.worker import Publishing, build
from helpline.announcements.workflow import Workflow
from helpline.connectors.base import AccountSettings, Connector, ConnectorContext
from helpline.connectors.emulation import serve
from helpline.connectors.mastodon.emulator import create_app as mastodon_app
from helpline.connectors.registry import build_connector
from helpline.connectors.telegram.emulator import create_app as telegram_app
from helpline.connectors.x.emulator import XEmulator

TG_TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"
CHANNEL = -1001234567890
ENV = {
    "HL_T_TG": TG_TOKEN,
    "HL_T_MASTODON": "test-token",
    "HL_T_XCK": "emulator-consumer-key",
    "HL_T_XCS": "emulator-consumer-secret",
    "HL_T_XAT": "1000-emulator-access-token",
    "HL_T_XATS": "emulator-access-token-secret",
}


async def _no_ingest(messages: Any) -> list[bool]:
    return [False] * len(messages)


@dataclass
class Platforms:
    telegram: str
    x: str
    mastodon: str
    tg_state: Any
    x_state: Any
    mastodon_state: Any
    accounts: list[AccountSettings]
    connectors: dict[tuple[str, str], Connector]

    async def telegram_sent(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.telegram) as http:
            return list((await http.get("/_emulator/sent")).json()["messages"])

    async def telegram_control(self, path: str, body: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(base_url=self.telegram) as http:
            response = await http.post(f"/_emulator/{path}", json=body)
            assert response.status_code == 200, response.text
            return response.json()


def accounts_for(telegram: str, x: str, mastodon: str) -> list[AccountSettings]:
    return [
        AccountSettings(
            platform="telegram",
            name="bot",
            base_url=telegram,
            secrets={"token": "HL_T_TG"},
            options={"long_poll_timeout": 0},
        ),
        AccountSettings(
            platform="x",
            name="brand",
            base_url=x,
            secrets={
                "consumer_key": "HL_T_XCK",
                "consumer_secret": "HL_T_XCS",
                "access_token": "HL_T_XAT",
                "access_token_secret": "HL_T_XATS",
            },
            options={"user_id": "1000", "handle": "helpline"},
        ),
        AccountSettings(
            platform="mastodon", name="social", base_url=mastodon, secrets={"access_token": "HL_T_MASTODON"}
        ),
    ]


@pytest.fixture
async def platforms(r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platforms]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    tg = telegram_app(
        token=TG_TOKEN, bot_username="helpline_bot", limits={"global_per_second": 1000, "global_burst": 1000}
    )
    xe = XEmulator(user_id="1000", handle="helpline")
    md = mastodon_app(username="social")
    async with serve(tg) as tg_url, serve(xe.app) as x_url, serve(md) as m_url:
        accounts = accounts_for(tg_url, x_url, m_url)
        connectors: dict[tuple[str, str], Connector] = {}
        for account in accounts:
            c = build_connector(account, ConnectorContext(ingest=_no_ingest, redis=r))
            await c.start()
            connectors[(account.platform, account.name)] = c
        tg.state.emulator.add_chat({"id": CHANNEL, "type": "channel", "username": "exchange_news"})
        try:
            yield Platforms(tg_url, x_url, m_url, tg.state.emulator, xe.state, md.state.mastodon, accounts, connectors)
        finally:
            for c in connectors.values():
                await c.stop()


def settings(**overrides: Any) -> AnnouncementSettings:
    base: dict[str, Any] = {"require_approval": [], "claim_idle_seconds": 1.0, "pause_limit": 2.0}
    base.update(overrides)
    return AnnouncementSettings.model_validate(base)


@pytest.fixture
def publishing(r: redis.Redis, platforms: Platforms) -> Publishing:
    p = build(r, platforms.connectors, settings(), platforms.accounts, name="test-publisher")
    p.consumer.block_ms = 5
    return p


@pytest.fixture
def workflow(r: redis.Redis) -> Workflow:
    return Workflow(AnnouncementStore(r), settings())


ALL_TARGETS = (
    Target(kind=TargetKind.X_TIMELINE, account="brand"),
    Target(kind=TargetKind.TELEGRAM_CHAT, account="bot", chat_id=CHANNEL),
    Target(kind=TargetKind.MASTODON_ACCOUNT, account="social"),
)


async def publish_until_done(p: Publishing, announcement_id: str, seconds: float = 20.0) -> str:
    """Drive scheduler, consumer and promoter in this process until the announcement is final."""
    from helpline.announcements.scheduler import tick

    await p.consumer.ensure_groups()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await tick(p.dispatcher)
        await p.consumer.step()
        await p.publisher.promote_due()
        state = (await p.dispatcher.store.get(announcement_id)).state
        if state.final:
            return state.value
        await asyncio.sleep(0.01)
    raise AssertionError(f"announcement {announcement_id} still {state.value} after {seconds}s")
