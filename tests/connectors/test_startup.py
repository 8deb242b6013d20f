"""Starting an account while its platform is down (see also tests/health/test_unavailable_start.py,
with real processes): the backoff, and a platform that comes back refusing the token."""

from __future__ import annotations

import asyncio
import logging

import pytest

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.emulation import free_port, serve
from helpline.connectors.startup import Startup, backoff
from helpline.connectors.telegram import TelegramConnector
from helpline.connectors.telegram.emulator import create_app as telegram_emulator

TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"


async def _no_ingest(_: object) -> list[bool]:
    return []


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (40, 60.0)):
        waits = [backoff(attempt, 1.0, 60.0) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered: processes restarted together do not retry in step


async def test_a_platform_back_but_refusing_the_token_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HL_T_TG", "999:revoked")
    port = free_port()
    settings = AccountSettings(
        platform="telegram", name="tg", base_url=f"http://127.0.0.1:{port}", secrets={"token": "HL_T_TG"}
    )
    connector = TelegramConnector(settings, ConnectorContext(ingest=_no_ingest))
    startup = Startup(connector, first_delay=0.05, max_delay=0.2)
    assert await startup.first() is False  # nothing listens: unavailable, not fatal
    assert connector.health().status == "down"
    assert "unavailable: could not start" in (connector.health().last_error or "")
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="helpline.connectors.startup"):
        async with serve(telegram_emulator(token=TOKEN), port=port):
            retrying = asyncio.create_task(startup.retry(stop))
            while startup.attempts < 6:
                await asyncio.sleep(0.05)
            stop.set()
            await retrying
    assert not startup.ready.is_set()
    health = connector.health()
    assert health.status == "down" and "rejected the bot token" in (health.last_error or "")
    assert "999:revoked" not in (health.last_error or "") and "999:revoked" not in caplog.text
    assert len([r for r in caplog.records if "could not start" in r.getMessage()]) == 1  # once, not per try
    await connector.stop()
