"""A restarted emulator continues above the ids of its previous run (ids from the clock), so the
cursors stored by the demo's last run keep working; a cursor ahead of everything a platform has
says so in health instead of polling "ok" and reading nothing, forever."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext
from helpline.connectors.cursors import CursorStore
from helpline.connectors.emulation import free_port, serve
from helpline.connectors.mastodon.connector import MastodonConnector
from helpline.connectors.mastodon.emulator import create_app as mastodon_emulator
from helpline.connectors.runner import PollRunner
from helpline.connectors.telegram import TelegramConnector
from helpline.connectors.telegram.emulator import create_app as telegram_emulator
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.cursor import Sweep, XCursor
from helpline.connectors.x.emulator import XEmulator
from helpline.connectors.x.emulator_state import Credentials
from helpline.routing.bus import StreamBus

TG_TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"
X_SECRETS = {
    "consumer_key": Credentials.consumer_key,
    "consumer_secret": Credentials.consumer_secret,
    "access_token": Credentials.access_token,
    "access_token_secret": Credentials.access_token_secret,
}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_T_TG", TG_TOKEN)
    monkeypatch.setenv("HL_T_MASTODON", "test-token")
    for name, value in X_SECRETS.items():
        monkeypatch.setenv(f"HL_T_X_{name.upper()}", value)


def make(platform: str, base_url: str, r: redis.Redis) -> Connector:
    secrets = {
        "telegram": {"token": "HL_T_TG"},
        "mastodon": {"access_token": "HL_T_MASTODON"},
        "x": {n: f"HL_T_X_{n.upper()}" for n in X_SECRETS},
    }[platform]
    options: dict[str, Any] = {
        "x": {"user_id": "1000", "handle": "helpline"},
        "telegram": {"long_poll_timeout": 0},
        "mastodon": {},
    }[platform]
    settings = AccountSettings(
        platform=platform, name="support", base_url=base_url, poll_interval=0.05, secrets=secrets, options=options
    )
    context = ConnectorContext(ingest=StreamBus(r, partitions=2).ingest, redis=r)
    cls = {"telegram": TelegramConnector, "mastodon": MastodonConnector, "x": XConnector}[platform]
    return cls(settings, context)


def emulator(platform: str) -> Any:
    if platform == "telegram":
        return telegram_emulator(token=TG_TOKEN)
    if platform == "mastodon":
        return mastodon_emulator(username="support")
    return XEmulator(user_id="1000", handle="helpline").app


async def customer(http: httpx.AsyncClient, platform: str, text: str, kind: str) -> None:
    user: dict[str, Any] = {"id": "4242" if platform != "telegram" else 4242, "handle": "cust", "name": "Cust"}
    response = await http.post("/_emulator/customer-messages", json={"user": user, "text": text, "kind": kind})
    assert response.status_code == 200, response.text


async def ingested(r: redis.Redis) -> int:
    return sum([await r.xlen(stream) for stream in StreamBus(r, partitions=2).inbound_streams()])


async def poll_until(runner: PollRunner, done: Callable[[], Awaitable[bool]], tries: int = 40) -> bool:
    for _ in range(tries):
        await runner.poll_once()  # a connection kept from the stopped emulator may fail once
        if await done():
            return True
    return False


@pytest.mark.parametrize("platform", ["x", "mastodon", "telegram"])
async def test_messages_after_an_emulator_restart_are_read(platform: str, r: redis.Redis) -> None:
    port = free_port()
    connector = make(platform, f"http://127.0.0.1:{port}", r)
    runner = PollRunner(r, connector)
    kinds = ("mention", "direct") if platform != "telegram" else ("direct",)
    try:
        async with serve(emulator(platform), port=port) as url, httpx.AsyncClient(base_url=url) as http:
            await connector.start()
            await runner.poll_once()  # the first poll: the cursor starts here
            for kind in kinds:
                await customer(http, platform, f"first run {kind}", kind)

            async def first_run_read() -> bool:
                return await ingested(r) == len(kinds)

            assert await poll_until(runner, first_run_read)
        async with serve(emulator(platform), port=port) as url, httpx.AsyncClient(base_url=url) as http:
            for kind in kinds:  # a fresh emulator: its state is gone, the stored cursor is not
                await customer(http, platform, f"second run {kind}", kind)

            async def second_run_read() -> bool:
                return await ingested(r) == 2 * len(kinds)

            assert await poll_until(runner, second_run_read), "messages after the restart were never read"
            assert connector.health().status == "ok"
    finally:
        await connector.stop()


@pytest.mark.parametrize("platform", ["x", "mastodon"])
async def test_a_cursor_ahead_of_the_platform_is_reported(platform: str, r: redis.Redis) -> None:
    async with serve(emulator(platform)) as url, httpx.AsyncClient(base_url=url) as http:
        for kind in ("mention", "direct"):
            await customer(http, platform, f"hello {kind}", kind)
        connector = make(platform, url, r)
        await connector.start()
        far = "9" * 19
        await CursorStore(r).set(
            platform, "support", far if platform == "mastodon" else XCursor(Sweep(since=far), Sweep(since=far)).encode()
        )
        runner = PollRunner(r, connector)
        await runner.poll_once()
        health = connector.health()
        assert health.status == "degraded" and health.last_error is not None, health
        assert f"cursor {far} is ahead of the platform's newest" in health.last_error
        assert f"hl:cursor:{platform}:support:main" in health.last_error
        # the operator deletes the cursor: the poller reads from the platform's newest again
        await r.delete(f"hl:cursor:{platform}:support:main")
        await runner.lease.release()
        await connector.stop()
        connector = make(platform, url, r)  # a restarted process
        await connector.start()
        runner = PollRunner(r, connector)
        await runner.poll_once()
        await customer(http, platform, "after the reset", "mention")
        await runner.poll_once()
        assert connector.health().status == "ok" and runner.polls == 2 and await ingested(r) >= 1
        await connector.stop()
