from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.emulation import serve
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.emulator import XEmulator
from helpline.connectors.x.emulator_state import Credentials
from helpline.routing.bus import StreamBus
from helpline.routing.models import InboundMessage

PAYLOADS = Path(__file__).parent / "payloads"
BRAND_ID = "1000"

ENV = {
    "consumer_key": ("HL_TEST_X_CONSUMER_KEY", Credentials.consumer_key),
    "consumer_secret": ("HL_TEST_X_CONSUMER_SECRET", Credentials.consumer_secret),
    "access_token": ("HL_TEST_X_ACCESS_TOKEN", Credentials.access_token),
    "access_token_secret": ("HL_TEST_X_ACCESS_TOKEN_SECRET", Credentials.access_token_secret),
    "bearer_token": ("HL_TEST_X_BEARER", Credentials.bearer_token),
}


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture(autouse=True)
def x_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in ENV.values():
        monkeypatch.setenv(var, value)


@pytest.fixture
def emulator() -> XEmulator:
    return XEmulator(user_id=BRAND_ID, handle="helpline")


@pytest.fixture
async def x_url(emulator: XEmulator) -> AsyncIterator[str]:
    async with serve(emulator.app) as url:
        yield url


@pytest.fixture
async def control(x_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=x_url + "/_emulator") as client:
        yield client


def settings(base_url: str, *, mode: str = "polling", **options: Any) -> AccountSettings:
    return AccountSettings(
        platform="x",
        name="support",
        base_url=base_url,
        mode=mode,
        poll_interval=0.05,
        secrets={name: var for name, (var, _) in ENV.items()},
        options={"user_id": BRAND_ID, "handle": "helpline", **options},
    )


@pytest.fixture
def bus(r: redis.Redis) -> StreamBus:
    return StreamBus(r, partitions=4)


@pytest.fixture
def make_connector(x_url: str, bus: StreamBus, r: redis.Redis) -> Callable[..., XConnector]:
    def make(mode: str = "polling", **options: Any) -> XConnector:
        return XConnector(
            settings(x_url, mode=mode, **options), ConnectorContext(ingest=bus.ingest, redis=r, reject=bus.reject)
        )

    return make


async def ingested(bus: StreamBus) -> list[InboundMessage]:
    """Every message on the inbound streams, in stream order per partition."""
    out: list[InboundMessage] = []
    for stream in bus.inbound_streams():
        for _, fields in await bus.client.xrange(stream):
            out.append(InboundMessage.model_validate_json(fields[b"m"]))
    return out


async def say(
    control: httpx.AsyncClient, user: str, text: str, kind: str = "mention", reply_to: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user": {"id": user, "handle": f"cust{user}", "name": f"Customer {user}"},
        "text": text,
        "kind": kind,
    }
    if reply_to:
        body["reply_to"] = reply_to
    response = await control.post("/customer-messages", json=body)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result
