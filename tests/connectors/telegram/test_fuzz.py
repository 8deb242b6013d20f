"""Odd but well-formed updates through the real webhook and the polling parser: an update the
connector cannot use is answered 200 and dead-lettered with its reason; only a storage failure
answers 5xx (Telegram would redeliver a 500 forever)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.applications import Starlette
from starlette.routing import Mount

from helpline.connectors.telegram import TelegramConnector
from helpline.connectors.telegram.webhook import SECRET_HEADER
from helpline.routing import keys
from helpline.routing.bus import StreamBus
from tests.connectors.fuzzing import deep_nesting, draw_examples, mutated

from .conftest import MakeConnector

PAYLOADS = Path(__file__).parent / "payloads"
BASES = [json.loads(p.read_text()) for p in sorted(PAYLOADS.glob("*.json"))]
SECRET = "s3cret_webhook-token"
EXAMPLES = 150  # bounded: a few seconds


async def dead_letters(r: redis.Redis, bus: StreamBus) -> list[dict[bytes, bytes]]:
    found = []
    for p in range(bus.partitions):
        found += [fields for _, fields in await r.xrange(keys.dead_letters(p))]
    return found


def client_for(connector: TelegramConnector) -> httpx.AsyncClient:
    app = Starlette(routes=[Mount("/hook", routes=list(connector.webhook_routes()))])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={SECRET_HEADER: SECRET}
    )


async def test_fuzzed_webhook_updates_never_answer_5xx(
    make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    connector = make_connector(mode="webhook", public_base_url="http://t")
    async with client_for(connector) as client:
        for update in draw_examples(mutated(BASES), EXAMPLES):
            response = await client.post("/hook/", content=json.dumps(update).encode())
            assert response.status_code == 200, update
    assert await dead_letters(r, bus)  # the unusable ones were set aside, not lost silently
    await connector.stop()


async def test_reported_odd_updates_are_acknowledged_and_dead_lettered(
    make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    connector = make_connector(mode="webhook", public_base_url="http://t")
    base = json.loads((PAYLOADS / "message_text_private.json").read_text())
    odd: list[bytes] = [
        json.dumps({**base, "message": {**base["message"], "date": 1e300}}).encode(),
        json.dumps({**base, "message": {**base["message"], "chat": float("nan")}}).encode(),
        json.dumps({**base, "message": {**base["message"], "from": 5}}).encode(),
        json.dumps({**base, "message": [1, 2]}).encode(),
        deep_nesting(),
        b"[1, 2]",
        b"not json",
    ]
    async with client_for(connector) as client:
        for body in odd:
            response = await client.post("/hook/", content=body)
            assert response.status_code == 200, body[:200]
    letters = await dead_letters(r, bus)
    assert len(letters) == len(odd)
    assert all(f[b"error"] and f[b"stream"] == b"webhook:telegram:support" for f in letters)
    assert any(b"not JSON" in f[b"error"] for f in letters)
    await connector.stop()


async def test_a_storage_failure_still_answers_5xx(make_connector: MakeConnector) -> None:
    async def redis_down(_: Any) -> list[bool]:
        raise RedisConnectionError("redis is down")

    connector = make_connector(mode="webhook", public_base_url="http://t", ingest=redis_down)
    body = (PAYLOADS / "message_text_private.json").read_bytes()
    async with client_for(connector) as client:
        assert (await client.post("/hook/", content=body)).status_code == 500
    await connector.stop()


async def test_fuzzed_polled_updates_are_skipped_one_by_one(
    make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    connector = make_connector()
    bot, _ = await connector._ensure_bot()
    updates = draw_examples(mutated(BASES), EXAMPLES)
    good = json.loads((PAYLOADS / "message_text_private.json").read_text())
    batch = [{**u, "update_id": i} for i, u in enumerate(updates)] + [{**good, "update_id": len(updates)}]

    async def fake_api(*_: Any, **__: Any) -> Any:
        return batch

    object.__setattr__(bot, "do_api_request", fake_api)
    polled = await connector.fetch(None)
    assert polled.cursor == str(len(updates) + 1)  # past every update, readable or not
    assert any(m.text == good["message"]["text"] for m in polled.messages)
    assert len(polled.messages) + polled.skipped == len(batch)
    await connector.stop()
