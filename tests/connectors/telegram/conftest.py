from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.emulation import serve
from helpline.connectors.files import Blobs
from helpline.connectors.telegram import TelegramConnector
from helpline.connectors.telegram.emulator import create_app
from helpline.connectors.telegram.emulator_state import EmulatorState
from helpline.routing.bus import PAYLOAD, StreamBus
from helpline.routing.models import InboundMessage

TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"
BOT_USERNAME = "helpline_bot"
BOT_ID = 123456
ACCOUNT = "support"


@dataclass
class Emulator:
    url: str
    state: EmulatorState
    http: httpx.AsyncClient

    async def customer(self, user_id: int | str, text: str, kind: str = "direct", **extra: Any) -> dict[str, Any]:
        body = {
            "user": {"id": user_id, "handle": f"user{user_id}", "name": f"Cust {user_id}"},
            "text": text,
            "kind": kind,
            **extra,
        }
        response = await self.http.post("/_emulator/customer-messages", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"/_emulator/{path}", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def sent(self) -> list[dict[str, Any]]:
        return list((await self.http.get("/_emulator/sent")).json()["messages"])

    async def stats(self) -> dict[str, Any]:
        return dict((await self.http.get("/_emulator/stats")).json())


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    app = create_app(token=TOKEN, bot_username=BOT_USERNAME)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield Emulator(url, app.state.emulator, http)


@pytest.fixture
def bus(r: redis.Redis) -> StreamBus:
    return StreamBus(r, partitions=4)


@pytest.fixture
def telegram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)
    monkeypatch.setenv("HL_TG_WEBHOOK_SECRET", "s3cret_webhook-token")


MakeConnector = Callable[..., TelegramConnector]


@pytest.fixture
def make_connector(
    emulator: Emulator, bus: StreamBus, r: redis.Redis, telegram_env: None, tmp_path: Path
) -> MakeConnector:
    def make(
        mode: str = "polling",
        base_url: str | None = None,
        ingest: Any = None,
        public_base_url: str | None = None,
        poll_interval: float = 0.1,
        blobs: Blobs | None = None,
        **options: Any,
    ) -> TelegramConnector:
        settings = AccountSettings(
            platform="telegram",
            name=ACCOUNT,
            base_url=base_url or emulator.url,
            mode=mode,
            poll_interval=poll_interval,
            secrets={"token": "HL_TG_TOKEN", "webhook_secret": "HL_TG_WEBHOOK_SECRET"},
            options={"long_poll_timeout": 0, "attachments_dir": str(tmp_path / "files"), **options},
        )
        context = ConnectorContext(
            ingest=ingest or bus.ingest, redis=r, public_base_url=public_base_url, reject=bus.reject, blobs=blobs
        )
        return TelegramConnector(settings, context)

    return make


async def ingested(r: redis.Redis, bus: StreamBus) -> list[InboundMessage]:
    """Every message on the inbound streams, in stream order per partition."""
    found: list[InboundMessage] = []
    for stream in bus.inbound_streams():
        for _, fields in await r.xrange(stream):
            found.append(InboundMessage.model_validate_json(fields[PAYLOAD]))
    return found
