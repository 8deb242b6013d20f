import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from helpline.connectors.emulation import serve
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.emulator_state import Credentials
from helpline.connectors.x.webhook import SIGNATURE_HEADER, crc_response, sign, verify
from helpline.routing.bus import StreamBus
from helpline.routing.models import MessageKind

from .conftest import BRAND_ID, ingested, payload, say

SECRET = Credentials.consumer_secret


@pytest.fixture
async def webhook(make_connector: Callable[..., XConnector]) -> AsyncIterator[str]:
    connector = make_connector(mode="webhook")
    app = Starlette(routes=[Mount("/webhooks/x/support", routes=list(connector.webhook_routes()))])
    async with serve(app) as url:
        yield url + "/webhooks/x/support/"
    await connector.stop()


def test_crc_token_matches_the_documented_algorithm() -> None:
    # printf token | openssl dgst -sha256 -hmac secret -binary | base64
    assert crc_response("secret", "token") == {"response_token": "sha256=6UERDj0r/oJiHw4+FDRzDXMF0QbF9oyHFl0LJ6RhGko="}
    body = b'{"for_user_id":"1"}'
    assert verify("secret", body, sign("secret", body))
    assert not verify("secret", body, sign("other", body))
    assert not verify("secret", body, None)


async def test_crc_challenge_is_answered(webhook: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(webhook, params={"crc_token": "abc123"})
        assert response.status_code == 200
        assert response.json() == crc_response(SECRET, "abc123")
        assert (await client.get(webhook)).status_code == 400


async def test_unsigned_or_wrongly_signed_posts_are_refused(webhook: str, bus: StreamBus) -> None:
    body = json.dumps(payload("aaa_direct_message_events.json")).encode()
    async with httpx.AsyncClient() as client:
        missing = await client.post(webhook, content=body)
        wrong = await client.post(webhook, content=body, headers={SIGNATURE_HEADER: sign("not-the-secret", body)})
        tampered = await client.post(webhook, content=body + b" ", headers={SIGNATURE_HEADER: sign(SECRET, body)})
    assert [missing.status_code, wrong.status_code, tampered.status_code] == [403, 403, 403]
    assert await ingested(bus) == []


async def test_recorded_payloads_posted_with_signature_are_ingested_once(webhook: str, bus: StreamBus) -> None:
    body = json.dumps(payload("aaa_direct_message_events.json")).encode()
    async with httpx.AsyncClient() as client:
        for _ in range(2):  # X may deliver twice
            response = await client.post(webhook, content=body, headers={SIGNATURE_HEADER: sign(SECRET, body)})
            assert response.status_code == 200
    (dm,) = await ingested(bus)
    assert dm.kind is MessageKind.DIRECT and dm.thread_key == f"dm:{BRAND_ID}-3805104374"


async def test_emulator_delivers_activity_to_the_registered_webhook(
    webhook: str,
    bus: StreamBus,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    registered = await control.post("/webhook", json={"url": webhook})
    assert registered.json() == {"registered": True}
    first = await say(control, "42", "is the exchange down?")
    assert first["webhook_status"] == 200
    dm = await say(control, "42", "here is my account id", kind="direct")
    assert dm["webhook_status"] == 200
    own = await say(control, BRAND_ID, "@helpline scheduled maintenance at 02:00 UTC")
    assert own["webhook_status"] == 200
    # our reply, then the customer's answer to it: same conversation, resolved by the connector
    from helpline.connectors.base import SendProgress
    from helpline.routing.models import OutboundReply, Visibility

    connector = make_connector(mode="webhook")
    result = await connector.send(
        OutboundReply(
            reply_id="r1",
            conversation_id="0-1",
            platform="x",
            account="support",
            kind=MessageKind.MENTION,
            thread_key=first["thread"],
            visibility=Visibility.PUBLIC,
            text="We are looking into it.",
            in_reply_to=first["message_id"],
            sender="agent:a1",
        ),
        SendProgress(),
    )
    follow = await say(control, "42", "thanks, still failing", reply_to=result.platform_message_ids[0])
    assert follow["webhook_status"] == 200
    messages = {m.text: m for m in await ingested(bus)}
    assert set(messages) == {"is the exchange down?", "here is my account id", "thanks, still failing"}
    assert messages["is the exchange down?"].thread_key == first["thread"]
    assert messages["thanks, still failing"].thread_key == first["thread"]
    assert messages["thanks, still failing"].kind is MessageKind.REPLY
    assert messages["here is my account id"].thread_key == dm["thread"]


async def test_emulator_refuses_a_webhook_that_fails_crc(control: httpx.AsyncClient, webhook: str) -> None:
    response = await control.post("/webhook", json={"url": webhook, "consumer_secret": "another-app"})
    assert response.status_code == 400


async def test_crc_answer_cannot_sign_a_forged_body(webhook: str, bus: StreamBus) -> None:
    """The forgery from the field: ask the CRC for a JSON body, post that body with the answer."""
    body = json.dumps(payload("aaa_direct_message_events.json"))
    async with httpx.AsyncClient() as client:
        oracle = await client.get(webhook, params={"crc_token": body})
        forged_signature = oracle.json().get("response_token", "")
        forged = await client.post(webhook, content=body.encode(), headers={SIGNATURE_HEADER: forged_signature})
        assert (oracle.status_code, forged.status_code) == (400, 403)
        # a token-shaped body the CRC would sign is never a valid POST either
        token = "NjM0MTUwMzgyODY4OTI4NTM5"
        answer = (await client.get(webhook, params={"crc_token": token})).json()["response_token"]
        replayed = await client.post(webhook, content=token.encode(), headers={SIGNATURE_HEADER: answer})
        assert replayed.status_code == 403
    assert await ingested(bus) == []


@pytest.mark.parametrize("token", ["a" * 129, "with space", "{}", "line\nbreak", "é", "<script>"])
async def test_crc_tokens_not_shaped_like_x_are_refused(webhook: str, token: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(webhook, params={"crc_token": token})
    assert response.status_code == 400 and "response_token" not in response.text


@pytest.mark.parametrize("token", ["9b4507b3-9040-4669-9ca3-6b94edb50553", "Mjg1OTIy+NzQ1/MjI1MDk3MzQ0==", "x" * 128])
def test_crc_answers_tokens_shaped_like_x(token: str) -> None:
    assert crc_response(SECRET, token)["response_token"] == sign(SECRET, token.encode())


async def test_unsigned_post_is_refused_before_its_body_is_read(make_connector: Callable[..., XConnector]) -> None:
    connector = make_connector(mode="webhook")
    app = Starlette(routes=[Mount("/w", routes=list(connector.webhook_routes()))])
    pulled = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(3200):  # 200 MiB
            pulled += 1
            yield b"{" * 65536

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        unsigned = await client.post("/w/", content=huge())
        garbled = await client.post("/w/", content=huge(), headers={SIGNATURE_HEADER: "sha256=nope"})
    assert (unsigned.status_code, garbled.status_code) == (403, 403)
    assert pulled <= 2
