"""The composer's counter asks the server, which asks the conversation's connector: X's weighted
count, Telegram's UTF-16 units, the Mastodon instance's own limit. The page keeps no copy of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.mastodon.connector import MastodonConnector
from helpline.connectors.x.text import split_thread
from helpline.routing.models import MessageKind

from .helpers import Desk, make_desk

ACCOUNTS = [
    {"platform": "x", "name": "brand"},
    {"platform": "telegram", "name": "bot"},
    {
        "platform": "mastodon",
        "name": "support",
        "base_url": "http://127.0.0.1:9",
        "secrets": {"access_token": "COUNTING_MASTODON_TOKEN"},
    },
]
URL = "https://support.example.com/hc/en-us/articles/360041234567-How-to-withdraw"


@pytest.fixture
async def desk(r: redis.Redis) -> AsyncIterator[Desk]:
    d = await make_desk(r, accounts=ACCOUNTS)
    yield d
    for c in d.clients:
        await c.aclose()


async def count(desk: Desk, cid: str, text: str) -> dict[str, object]:
    response = await desk.client().post(
        f"/api/v1/conversations/{cid}/count", json={"text": text}, headers=await desk.token("amy")
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_x_public_reply_is_counted_weighted_and_a_dm_by_characters(desk: Desk) -> None:
    public = await desk.conversation(
        "@brand help", thread="tweet:1", platform="x", account="brand", kind=MessageKind.MENTION
    )
    text = f"출금이 지연되고 있습니다 {URL}"
    out = await count(desk, public, text)
    # 11 Hangul syllables weigh 2, 3 spaces 1, the link 23
    assert out == {
        "length": 2 * 11 + 3 + 23,
        "limit": 280,
        "parts": 1,
        "counting": "weighted: a link counts 23, CJK and emoji 2",
    }
    long = " ".join(f"Step {i}: confirm the network before sending." for i in range(12))
    assert (await count(desk, public, long))["parts"] == len(split_thread(long)) > 1  # a numbered thread
    dm = await desk.conversation("help", thread="dm:42", platform="x", account="brand", kind=MessageKind.DIRECT)
    out = await count(desk, dm, text)
    assert out["length"] == len(text) and out["limit"] == 10_000


async def test_telegram_counts_utf16_units(desk: Desk) -> None:
    cid = await desk.conversation("hi", thread="chat:7", platform="telegram", account="bot")
    out = await count(desk, cid, "😀 ok")
    assert out["length"] == 5 and out["limit"] == 4096 and out["counting"] == "UTF-16 units"
    assert (await count(desk, cid, "   "))["parts"] == 0


async def test_mastodon_uses_the_limit_its_running_connector_read_from_the_instance(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTING_MASTODON_TOKEN", "t")
    cid = await desk.conversation(
        "hi", thread="status:1", platform="mastodon", account="support", kind=MessageKind.MENTION
    )
    assert (await count(desk, cid, "x"))["limit"] == 500  # no connector here: the platform's default

    async def no_ingest(_: object) -> list[bool]:
        return []

    connector = MastodonConnector(AccountSettings.model_validate(ACCOUNTS[2]), ConnectorContext(ingest=no_ingest))
    connector.max_characters = 1000  # what start() read from /api/v2/instance
    desk.parts.connectors[("mastodon", "support")] = connector
    out = await count(desk, cid, "word " * 150)
    assert out["limit"] == 1000 and out["parts"] == 1
    page = await desk.client().get(f"/api/v1/conversations/{cid}", headers=await desk.token("amy"))
    assert page.json()["char_limit"] == 1000


async def test_counting_needs_the_right_to_see_the_conversation(desk: Desk) -> None:
    cid = await desk.conversation("vip help", thread="chat:8", platform="telegram", account="bot")
    response = await desk.client().post(
        f"/api/v1/conversations/{cid}/count", json={"text": "x"}, headers=await desk.token("amy")
    )  # amy is not on the vip team
    assert response.status_code in (403, 404)


def test_the_page_has_no_copy_of_the_platforms_rules() -> None:
    script = (Path(__file__).parents[2] / "console" / "static" / "conversation.js").read_text()
    assert "/count" in script
    for rule in ("23", "0x10ff", "LIGHT", "normalize("):
        assert rule not in script
