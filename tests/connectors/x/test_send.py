import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from helpline.connectors.base import SendProgress
from helpline.connectors.errors import Permanent, RateLimited, Transient
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.text import weighted_length
from helpline.routing.models import MessageKind, OutboundReply, Visibility

from .conftest import say


def public(reply_id: str, thread: str, text: str, in_reply_to: str | None = None) -> OutboundReply:
    return OutboundReply(
        reply_id=reply_id,
        conversation_id="0-1",
        platform="x",
        account="support",
        kind=MessageKind.MENTION,
        thread_key=thread,
        visibility=Visibility.PUBLIC,
        text=text,
        in_reply_to=in_reply_to,
        sender="bot:faq",
    )


def direct(reply_id: str, user: str, text: str) -> OutboundReply:
    return OutboundReply(
        reply_id=reply_id,
        conversation_id="0-2",
        platform="x",
        account="support",
        kind=MessageKind.DIRECT,
        thread_key=f"dm:{user}-1000",
        visibility=Visibility.PRIVATE,
        text=text,
        recipient_id=user,
        sender="bot:faq",
    )


async def sent(control: httpx.AsyncClient) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = (await control.get("/sent")).json()["messages"]
    return messages


async def test_long_reply_becomes_a_numbered_thread_of_replies(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    first = await say(control, "42", "how do I withdraw?")
    text = " ".join(f"Step {i}: open the wallet, choose the network and confirm with 2FA." for i in range(10))
    result = await make_connector().send(public("r1", first["thread"], text, first["message_id"]), SendProgress())
    posted = await sent(control)
    assert [p["id"] for p in posted] == list(result.platform_message_ids)
    assert len(posted) >= 3
    previous = first["message_id"]
    for i, part in enumerate(posted, 1):
        assert part["kind"] == "tweet" and part["visibility"] == "public"
        assert str(part["text"]).startswith(f"{i}/{len(posted)} ")
        assert weighted_length(str(part["text"])) <= 280
        assert part["in_reply_to"] == previous  # each part replies to the one before
        assert part["conversation_id"] == first["message_id"]
        previous = part["id"]


async def test_429_storm_mid_thread_resumes_without_double_posting(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    connector = make_connector()
    await control.post("/config", json={"limits": {"tweets_create": {"limit": 2, "window": 1.0}}})
    replies = []
    for n in range(3):
        first = await say(control, str(50 + n), f"question {n}")
        text = " ".join(f"Answer {n} part {i}: please check the deposit address carefully." for i in range(10))
        replies.append(public(f"r{n}", first["thread"], text, first["message_id"]))
    progress = {r.reply_id: SendProgress() for r in replies}
    limited = 0
    for reply in replies:
        while True:
            try:
                await connector.send(reply, progress[reply.reply_id])
                break
            except RateLimited as exc:
                limited += 1
                assert 0 < exc.retry_after <= 2.0  # from x-rate-limit-reset, not a default
                await asyncio.sleep(exc.retry_after)
    assert limited >= 2
    posted = await sent(control)
    texts = [str(p["text"]) for p in posted]
    assert len(texts) == len(set(texts))  # nothing posted twice
    for reply in replies:
        ids = progress[reply.reply_id].posted
        assert [p["id"] for p in posted if p["id"] in ids] == ids
        assert len(ids) >= 3
    # the learnt budget stopped most calls before they reached X
    stats = (await control.get("/stats")).json()
    assert stats["rate_limited_responses"] <= limited


async def test_429_without_reset_header_does_not_hot_loop(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    connector = make_connector()
    first = await say(control, "42", "hi")
    await control.post(
        "/config", json={"limits": {"tweets_create": {"limit": 0, "window": 900}}, "omit_reset_header": True}
    )
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        await connector.send(public("r1", first["thread"], "hello", first["message_id"]), SendProgress())
    assert caught.value.retry_after == 60.0
    with pytest.raises(RateLimited):  # the next attempt does not even reach X
        await connector.send(public("r1", first["thread"], "hello", first["message_id"]), SendProgress())
    assert time.monotonic() - started < 5
    stats = (await control.get("/stats")).json()
    assert stats["requests"]["tweets_create"] == 1
    assert connector.health().rate_limit_remaining == 0


async def test_dm_reply_goes_out_as_a_dm_never_a_tweet(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    await say(control, "42", "my account is locked", kind="direct")
    connector = make_connector()
    await connector.send(direct("r1", "42", "We have unlocked it. " * 600), SendProgress())
    posted = await sent(control)
    assert len(posted) == 2  # 12,600 characters: two DMs
    assert all(p["kind"] == "direct" and p["visibility"] == "private" for p in posted)
    assert all(p["recipient_id"] == "42" and p["conversation_id"] == "42-1000" for p in posted)
    inconsistent = OutboundReply(
        reply_id="r2",
        conversation_id="0-2",
        platform="x",
        account="support",
        kind=MessageKind.DIRECT,
        thread_key="tweet:123",
        visibility=Visibility.PRIVATE,
        text="secret",
        recipient_id="42",
        sender="bot:faq",
    )
    with pytest.raises(Permanent):
        await connector.send(inconsistent, SendProgress())
    assert len(await sent(control)) == 2


async def test_duplicate_content_is_permanent_and_5xx_transient(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    connector = make_connector()
    first = await say(control, "42", "hi")
    await connector.send(public("r1", first["thread"], "Thanks!", first["message_id"]), SendProgress())
    # The same text in another reply is its own tweet (its reference differs) ...
    await connector.send(public("r2", first["thread"], "Thanks!", first["message_id"]), SendProgress())
    texts = [str(m["text"]) for m in await sent(control)]
    assert len(texts) == len(set(texts)) == 2 and all(t.startswith("Thanks! (ref ") for t in texts)
    # ... while the same reply posted again (its progress lost) is refused by X, not doubled.
    with pytest.raises(Permanent, match="duplicate"):
        await connector.send(public("r1", first["thread"], "Thanks!", first["message_id"]), SendProgress())
    await control.post("/config", json={"fail_next": {"tweets_create": [503]}})
    with pytest.raises(Transient):
        await connector.send(public("r3", first["thread"], "Other", first["message_id"]), SendProgress())


async def test_rate_limits_are_per_endpoint(make_connector: Callable[..., XConnector]) -> None:
    connector = make_connector(tweets_per_15min=50)
    assert [b.key for b in connector.rate_limits(public("r", "tweet:1", "x"))] == ["tweets-create"]
    assert connector.rate_limits(public("r", "tweet:1", "x"))[0].rate == 50
    assert {b.key for b in connector.rate_limits(direct("r", "42", "x"))} == {"dm-create", "dm-create-day"}


async def test_wrong_credentials_are_auth_failed(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helpline.connectors.errors import AuthFailed

    monkeypatch.setenv("HL_TEST_X_ACCESS_TOKEN_SECRET", "wrong")  # the signature no longer verifies
    first = await say(control, "42", "hi")
    with pytest.raises(AuthFailed):
        await make_connector().send(public("r1", first["thread"], "hello", first["message_id"]), SendProgress())
    assert await sent(control) == []
