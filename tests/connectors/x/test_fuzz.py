"""Odd but signed Account Activity bodies through the real webhook, and odd polled pages through
the parsers: what cannot be used is answered 200 and dead-lettered with its reason, the readable
events beside it still arrive; only a storage failure answers 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.applications import Starlette
from starlette.routing import Mount

from helpline.connectors.base import ConnectorContext
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.emulator_state import Credentials
from helpline.connectors.x.parse import dm_page, mentions_page, webhook_dms, webhook_tweets
from helpline.connectors.x.webhook import SIGNATURE_HEADER, sign
from helpline.routing import keys
from helpline.routing.bus import StreamBus
from tests.connectors.fuzzing import HOSTILE, deep_nesting, draw_examples, mutated

from .conftest import BRAND_ID, ingested, payload, settings

SECRET = Credentials.consumer_secret

WEBHOOK_BASES = [payload("aaa_tweet_create_events.json"), payload("aaa_direct_message_events.json")]
POLL_BASES = [payload("mentions.json"), payload("dm_events.json")]
EXAMPLES = 150  # bounded: a few seconds


async def dead_letters(r: redis.Redis, bus: StreamBus) -> list[dict[bytes, bytes]]:
    found = []
    for p in range(bus.partitions):
        found += [fields for _, fields in await r.xrange(keys.dead_letters(p))]
    return found


def signed(body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(SECRET, body)}


def client_for(connector: XConnector) -> httpx.AsyncClient:
    app = Starlette(routes=[Mount("/hook", routes=list(connector.webhook_routes()))])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_fuzzed_signed_bodies_never_answer_5xx(make_connector: Callable[..., XConnector]) -> None:
    connector = make_connector(mode="webhook")
    async with client_for(connector) as client:
        for body in draw_examples(mutated(WEBHOOK_BASES), EXAMPLES):
            raw = json.dumps(body).encode()
            response = await client.post("/hook/", content=raw, headers=signed(raw))
            assert response.status_code == 200, body
    await connector.stop()


async def test_reported_odd_bodies_are_acknowledged_and_dead_lettered(
    make_connector: Callable[..., XConnector],
    r: redis.Redis,
    bus: StreamBus,
) -> None:
    connector = make_connector(mode="webhook")
    dms = payload("aaa_direct_message_events.json")
    good = dms["direct_message_events"][0]
    create = good["message_create"]
    too_long = {**create, "message_data": {**create["message_data"], "text": "x" * 70_000}}
    bad = {**good, "id": "1" * 200, "message_create": too_long}  # an id and a text no platform sends
    odd = [
        json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": 5}).encode(),
        json.dumps({**dms, "direct_message_events": [{**good, "created_timestamp": 1e300}]}).encode(),
        json.dumps({**dms, "direct_message_events": [{**good, "created_timestamp": float("nan")}]}).encode(),
        json.dumps({**dms, "direct_message_events": [bad, good]}).encode(),
        b"{" + deep_nesting()[:50_000],  # starts like an object, cannot be parsed
    ]
    async with client_for(connector) as client:
        for raw in odd:
            response = await client.post("/hook/", content=raw, headers=signed(raw))
            assert response.status_code == 200, raw[:200]
    letters = await dead_letters(r, bus)
    assert len(letters) == 3  # events that are not a list, the bad event beside a good one, the unparseable body
    assert all(f[b"stream"] == b"webhook:x:support" and f[b"error"] for f in letters)
    assert [m.message_id for m in await ingested(bus)] == [str(good["id"])]  # 1e300/NaN: a bad clock, not a bad DM
    await connector.stop()


async def test_a_storage_failure_still_answers_5xx(x_url: str, r: redis.Redis, bus: StreamBus) -> None:
    async def redis_down(_: Any) -> list[bool]:
        raise RedisConnectionError("redis is down")

    connector = XConnector(
        settings(x_url, mode="webhook"), ConnectorContext(ingest=redis_down, redis=r, reject=bus.reject)
    )
    raw = json.dumps(payload("aaa_direct_message_events.json")).encode()
    async with client_for(connector) as client:
        assert (await client.post("/hook/", content=raw, headers=signed(raw))).status_code == 500
    await connector.stop()


def test_fuzzed_polled_pages_are_read_item_by_item() -> None:
    for page in draw_examples(mutated(POLL_BASES), EXAMPLES * 2):
        for parse in (mentions_page, dm_page):
            kwargs: dict[str, Any] = {"after": None} if parse is dm_page else {}
            result = parse(page, account="support", own_id=BRAND_ID, **kwargs)
            assert len(result.rejected) <= len(page.get("data") or []) if isinstance(page.get("data"), list) else True
    for body in draw_examples(mutated(WEBHOOK_BASES), EXAMPLES):
        webhook_tweets(body, own_id=BRAND_ID)
        webhook_dms(body, account="support", own_id=BRAND_ID)


def test_one_bad_mention_does_not_hide_the_others() -> None:
    page = payload("mentions.json")
    good = len(mentions_page(page, account="support", own_id=BRAND_ID).messages)
    for hostile in draw_examples(HOSTILE, 17):
        broken = {**page, "data": [*page["data"], {"id": "99", "author_id": "5", "created_at": hostile}]}
        parsed = mentions_page(broken, account="support", own_id=BRAND_ID)
        assert len(parsed.messages) + len(parsed.rejected) == good + 1
        assert "99" in parsed.ids  # the cursor moves past it either way
