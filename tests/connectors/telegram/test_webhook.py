import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio as redis
from starlette.applications import Starlette
from starlette.routing import Mount

from helpline.connectors.base import SendProgress
from helpline.connectors.emulation import free_port, serve
from helpline.connectors.telegram import TelegramConnector
from helpline.connectors.telegram.webhook import SECRET_HEADER
from helpline.routing.bus import StreamBus
from helpline.routing.models import InboundMessage, MessageKind, OutboundReply, ReplyButton, Visibility
from tests.redis_server import RedisServer

from .conftest import ACCOUNT, Emulator, MakeConnector, ingested

SECRET = "s3cret_webhook-token"
UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 5,
        "date": 1700000000,
        "chat": {"id": 77, "type": "private", "first_name": "Kim"},
        "from": {"id": 77, "is_bot": False, "first_name": "Kim"},
        "text": "hi",
    },
}


@asynccontextmanager
async def webhook_server(make_connector: MakeConnector, **kwargs: Any) -> AsyncIterator[tuple[TelegramConnector, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    connector = make_connector(mode="webhook", public_base_url=base, **kwargs)
    app = Starlette(routes=[Mount(f"/webhooks/telegram/{ACCOUNT}", routes=list(connector.webhook_routes()))])
    async with serve(app, port=port):
        yield connector, f"{base}/webhooks/telegram/{ACCOUNT}/"


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_wrong_or_missing_secret_is_refused_and_nothing_ingested(
    make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    async with webhook_server(make_connector) as (_, url), httpx.AsyncClient() as http:
        assert (await http.post(url, json=UPDATE)).status_code == 403
        assert (await http.post(url, json=UPDATE, headers={SECRET_HEADER: SECRET + "x"})).status_code == 403
        assert (await http.post(url, json=UPDATE, headers={SECRET_HEADER: ""})).status_code == 403
        assert await ingested(r, bus) == []
        ok = await http.post(url, json=UPDATE, headers={SECRET_HEADER: SECRET})
        assert ok.status_code == 200
        assert [m.text for m in await ingested(r, bus)] == ["hi"]
        assert (await http.post(url, json=UPDATE, headers={SECRET_HEADER: SECRET})).status_code == 200
        assert len(await ingested(r, bus)) == 1  # a redelivery is ingested once


async def test_emulator_delivers_to_the_webhook_with_the_secret(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    async with webhook_server(make_connector) as (connector, url):
        await connector.start()
        assert emulator.state.webhook == {"url": url, "secret_token": SECRET}
        await emulator.customer(1001, "webhook hello")
        await emulator.customer(1002, "group hello", kind="group")

        async def count(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(await ingested(r, bus)) == n

            return check

        await eventually(await count(2))
        # a survey goes out; the customer's button press comes back by webhook and is answered
        survey = OutboundReply(
            reply_id="s1",
            conversation_id="0-1",
            platform="telegram",
            account=ACCOUNT,
            kind=MessageKind.DIRECT,
            thread_key="chat:1001",
            visibility=Visibility.PRIVATE,
            text="How did we do?",
            sender="bot:csat",
            buttons=(ReplyButton(label="Good", data="csat:5"),),
        )
        (survey_id,) = (await connector.send(survey, SendProgress())).platform_message_ids
        press = await emulator.control(
            "button-presses", {"user": {"id": 1001}, "chat_id": 1001, "message_id": int(survey_id), "data": "csat:5"}
        )
        await eventually(await count(3))

        async def answered() -> bool:
            body = (await emulator.http.get("/_emulator/callback-answers")).json()
            return bool(body["answered"] == [press["callback_query_id"]])

        await eventually(answered)
        await connector.stop()
    assert _texts(await ingested(r, bus)) == ["csat:5", "group hello", "webhook hello"]
    assert (await emulator.stats())["webhook_failures"] == 0


async def test_redis_down_answers_500_and_telegram_redelivers(
    emulator: Emulator, make_connector: MakeConnector, own_redis: RedisServer
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    own_bus = StreamBus(client, partitions=4)
    await emulator.control("config", {"webhook_retry_interval": 0.1})
    try:
        async with webhook_server(make_connector, ingest=own_bus.ingest) as (connector, _):
            await connector.start()
            own_redis.stop(kill=True)
            await emulator.customer(1003, "are you there?")

            async def failed_twice() -> bool:
                return int((await emulator.stats()).get("webhook_failures", 0)) >= 2

            await eventually(failed_twice)
            assert emulator.state.webhook["last_error_message"].startswith("Wrong response from the webhook: 500")
            own_redis.start()

            async def delivered() -> bool:
                return [m.text for m in await ingested(client, own_bus)] == ["are you there?"]

            await eventually(delivered)
            await connector.refresh_health()
            assert connector.health().pending_updates == 0
            await connector.stop()
    finally:
        await client.aclose()


def _texts(messages: list[InboundMessage]) -> list[str]:
    return sorted(m.text for m in messages)
