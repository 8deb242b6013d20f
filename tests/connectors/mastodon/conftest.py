from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from starlette.applications import Starlette

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.emulation import serve
from helpline.connectors.mastodon.connector import MastodonConnector
from helpline.connectors.mastodon.emulator import create_app
from helpline.connectors.mastodon.emulator_state import MastodonState
from helpline.routing.bus import StreamBus
from helpline.routing.models import InboundMessage

TOKEN_ENV = "HL_TEST_MASTODON_TOKEN"
TOKEN = "test-token"


@dataclass
class Emulator:
    app: Starlette
    base_url: str
    http: httpx.AsyncClient

    @property
    def state(self) -> MastodonState:
        return self.app.state.mastodon  # type: ignore[no-any-return]

    async def customer(
        self, user_id: str, text: str, kind: str = "mention", handle: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        user = {"id": user_id, "handle": handle or f"user{user_id}", "name": f"User {user_id}"}
        user.update(extra.pop("user", {}))
        response = await self.http.post(
            "/_emulator/customer-messages", json={"user": user, "text": text, "kind": kind, **extra}
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    async def sent(self) -> list[dict[str, Any]]:
        return (await self.http.get("/_emulator/sent")).json()["messages"]  # type: ignore[no-any-return]

    async def stats(self) -> dict[str, Any]:
        return (await self.http.get("/_emulator/stats")).json()  # type: ignore[no-any-return]

    async def config(self, **changes: Any) -> None:
        (await self.http.post("/_emulator/config", json=changes)).raise_for_status()


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    app = create_app(username="support")
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield Emulator(app, base_url, http)


def settings(base_url: str, **options: Any) -> AccountSettings:
    return AccountSettings(
        platform="mastodon",
        name="support",
        base_url=base_url,
        poll_interval=0.01,
        secrets={"access_token": TOKEN_ENV},
        options=options,
    )


MakeConnector = Callable[..., Awaitable[MastodonConnector]]


@pytest.fixture
async def make_connector(emulator: Emulator, r: redis.Redis, tmp_path: Path) -> AsyncIterator[MakeConnector]:
    """Started connectors on the emulator, ingesting into a real StreamBus; stopped at the end.
    Media files go to the test's folder."""
    started: list[MastodonConnector] = []

    async def make(*, use_redis: bool = True, base_url: str | None = None, **options: Any) -> MastodonConnector:
        options.setdefault("attachments_dir", str(tmp_path / "files"))
        bus = StreamBus(r, partitions=4)
        context = ConnectorContext(ingest=bus.ingest, redis=r if use_redis else None)
        connector = MastodonConnector(settings(base_url or emulator.base_url, **options), context)
        await connector.start()
        started.append(connector)
        return connector

    yield make
    for connector in started:
        await connector.stop()


async def ingested(r: redis.Redis, partitions: int = 4) -> list[InboundMessage]:
    """Every message on the inbound streams, in ingest order per stream, sorted by platform id."""
    bus = StreamBus(r, partitions=partitions)
    found: list[InboundMessage] = []
    for stream in bus.inbound_streams():
        for _, fields in await r.xrange(stream):
            found.append(InboundMessage.model_validate_json(fields[b"m"]))
    return sorted(found, key=lambda m: (len(m.message_id), m.message_id))
