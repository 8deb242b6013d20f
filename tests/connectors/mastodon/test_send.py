import asyncio
from typing import Any

import pytest
import redis.asyncio as redis

from helpline.connectors.base import SendProgress
from helpline.connectors.emulation import free_port
from helpline.connectors.errors import AuthFailed, Permanent, RateLimited, Transient
from helpline.connectors.mastodon.compose import measure, split_reply
from helpline.connectors.mastodon.connector import MastodonConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing.models import MessageKind, OutboundReply, ReplyButton, Visibility

from .conftest import Emulator, MakeConnector


def reply_to(
    message: dict[str, Any],
    text: str,
    reply_id: str,
    kind: MessageKind = MessageKind.MENTION,
    recipient: str | None = None,
    **extra: Any,
) -> OutboundReply:
    visibility = Visibility.PRIVATE if kind is MessageKind.DIRECT else Visibility.PUBLIC
    return OutboundReply(
        reply_id=reply_id,
        conversation_id="0-1",
        platform="mastodon",
        account="support",
        kind=kind,
        thread_key=message["thread"],
        visibility=visibility,
        text=text,
        in_reply_to=message["message_id"],
        recipient_id=recipient,
        sender="agent:kim",
        **extra,
    )


async def polled(connector: MastodonConnector) -> None:
    batch = await connector.fetch("0")
    assert batch.messages


async def test_direct_reply_is_direct_and_addressed_to_the_customer(
    emulator: Emulator, make_connector: MakeConnector
) -> None:
    connector = await make_connector()
    dm = await emulator.customer("11", "account locked", kind="direct", handle="gina@other.social")
    await polled(connector)
    long_text = "Please verify your identity. " * 40
    result = await connector.send(reply_to(dm, long_text, "r-dm", MessageKind.DIRECT, "11"), SendProgress())
    sent = await emulator.sent()
    assert [s["id"] for s in sent] == list(result.platform_message_ids) and len(sent) >= 3
    assert all(s["visibility"] == "direct" for s in sent)
    assert all(s["text"].startswith("@gina@other.social ") for s in sent)
    assert [s["in_reply_to"] for s in sent] == [dm["message_id"], *[s["id"] for s in sent[:-1]]]


async def test_direct_reply_without_history_looks_the_customer_up(
    emulator: Emulator, make_connector: MakeConnector
) -> None:
    dm = await emulator.customer("12", "hi", kind="direct", handle="hana")
    connector = await make_connector(use_redis=False)  # knows nothing about the thread
    reply = reply_to(dm, "Hello Hana", "r-dm2", MessageKind.DIRECT, "12").model_copy(update={"in_reply_to": None})
    await connector.send(reply, SendProgress())
    (sent,) = await emulator.sent()
    assert sent["visibility"] == "direct" and sent["text"] == "@hana Hello Hana" and sent["in_reply_to"] is None


@pytest.mark.parametrize("visibility", ["public", "unlisted"])
async def test_public_reply_keeps_the_visibility_it_answers(
    emulator: Emulator, make_connector: MakeConnector, visibility: str
) -> None:
    mention = await emulator.customer("13", "fees?", handle="ivan", visibility=visibility)
    connector = await make_connector(use_redis=False)  # visibility fetched from the instance
    await connector.send(
        reply_to(mention, "See the fee table", "r-pub", recipient="13", buttons=(ReplyButton(label="Yes", data="1"),)),
        SendProgress(),
    )
    (sent,) = await emulator.sent()
    assert sent["visibility"] == visibility
    assert sent["text"] == "@ivan See the fee table\n\n1 — Yes"
    assert sent["in_reply_to"] == mention["message_id"]


async def test_public_thread_never_answers_a_direct_status(emulator: Emulator, make_connector: MakeConnector) -> None:
    dm = await emulator.customer("14", "secret", kind="direct", handle="jo")
    connector = await make_connector()
    await polled(connector)
    wrong = reply_to({**dm, "thread": "status:" + dm["message_id"]}, "public answer", "r-bad", recipient="14")
    with pytest.raises(Permanent):
        await connector.send(wrong, SendProgress())
    assert await emulator.sent() == []


async def test_resend_with_the_same_idempotency_key_posts_once(
    emulator: Emulator, make_connector: MakeConnector
) -> None:
    mention = await emulator.customer("15", "status?", handle="kai")
    connector = await make_connector()
    await polled(connector)
    reply = reply_to(mention, "Done", "r-idem", recipient="15")
    first = await connector.send(reply, SendProgress())
    # The process died before recording the part: the retry starts from nothing.
    second = await connector.send(reply, SendProgress())
    assert first == second
    assert len(await emulator.sent()) == 1
    assert (await emulator.stats())["idempotent_replays"] == 1


async def test_progress_skips_parts_already_posted(emulator: Emulator, make_connector: MakeConnector) -> None:
    mention = await emulator.customer("16", "long?", handle="lee")
    connector = await make_connector()
    await polled(connector)
    reply = reply_to(mention, "word " * 250, "r-parts", recipient="16")
    recorded: list[str] = []

    async def record(status_id: str) -> None:
        recorded.append(status_id)
        if len(recorded) == 1:
            raise RuntimeError("crash after the first part")

    with pytest.raises(RuntimeError):
        await connector.send(reply, SendProgress(recorder=record))
    result = await connector.send(reply, SendProgress(posted=recorded[:1]))
    sent = await emulator.sent()
    assert [s["id"] for s in sent] == list(result.platform_message_ids)
    assert len(sent) == 3 and result.platform_message_ids[0] == recorded[0]  # part 1 posted once
    assert sent[1]["in_reply_to"] == sent[0]["id"] and sent[0]["text"].endswith(f"(1/{len(sent)})")


async def test_429_storm_delivers_every_reply_exactly_once(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    customers = [await emulator.customer(str(20 + i), f"q{i}", handle=f"c{i}") for i in range(8)]
    connector = await make_connector()
    await polled(connector)
    await emulator.config(rate_limit=4, rate_period=2.0)
    replies = [
        reply_to(c, f"answer {i} " + (f"more{i} " * 120 if i % 3 == 0 else ""), f"storm-{i}", recipient=str(20 + i))
        for i, c in enumerate(customers)
    ]
    limiter = SharedRateLimiter(r)
    waits: list[float] = []
    results: list[tuple[str, ...]] = []
    for reply in replies:
        progress = SendProgress()
        while True:
            assert await limiter.acquire("mastodon", "support", connector.rate_limits(reply)) == 0.0
            try:
                results.append((await connector.send(reply, progress)).platform_message_ids)
                break
            except RateLimited as exc:
                waits.append(exc.retry_after)
                await asyncio.sleep(exc.retry_after)  # the caller schedules; the client never sleeps
    assert waits and all(1.0 <= w <= 2.0 + 0.5 for w in waits)
    sent = await emulator.sent()
    stats = await emulator.stats()
    assert stats["rate_limited_responses"] == len(waits)
    expected = [len(split_reply(reply.text, 500, f"c{i}")) for i, reply in enumerate(replies)]
    assert [len(ids) for ids in results] == expected and max(expected) > 1
    assert [s["id"] for s in sent] == [i for ids in results for i in ids]
    assert len({s["text"] for s in sent}) == len(sent)  # no part twice


async def test_rate_limits_scale_with_the_parts(emulator: Emulator, make_connector: MakeConnector) -> None:
    connector = await make_connector()
    short = reply_to({"thread": "status:1", "message_id": "1"}, "hi", "r1")
    long = reply_to({"thread": "status:1", "message_id": "1"}, "x " * 600, "r2")
    (api, statuses) = connector.rate_limits(short)
    assert (api.key, api.rate, api.period) == ("api", 300, 300.0)
    assert (statuses.key, statuses.rate, statuses.period) == ("statuses", 300, 10800.0)
    parts = connector.rate_limits(long)[0].period / 300.0
    assert parts >= measure("x " * 600) / 500


async def test_errors_map_from_the_instance(emulator: Emulator, make_connector: MakeConnector) -> None:
    mention = await emulator.customer("30", "x", handle="max")
    connector = await make_connector(max_characters=2000)  # more than the instance allows
    await polled(connector)
    with pytest.raises(Permanent, match="character limit"):
        await connector.send(reply_to(mention, "y" * 900, "r-422", recipient="30"), SendProgress())
    await emulator.config(fail_next=[503])
    with pytest.raises(Transient):
        await connector.fetch("0")
    await emulator.config(fail_next=[404])
    with pytest.raises(Permanent):
        await connector.fetch("0")
    await emulator.config(token="rotated")
    with pytest.raises(AuthFailed):
        await connector.fetch("0")
    assert await emulator.sent() == []


async def test_start_fails_cleanly(
    emulator: Emulator, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Transient):
        await make_connector(base_url=f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HL_TEST_MASTODON_TOKEN", "wrong")
    with pytest.raises(AuthFailed):
        await make_connector()


async def test_instance_limit_is_read_at_start(emulator: Emulator, make_connector: MakeConnector) -> None:
    await emulator.config(max_characters=1000)
    assert (await make_connector()).max_characters == 1000
    assert (await make_connector(max_characters=300)).max_characters == 300


async def test_capabilities_carry_the_instance_limit_read_at_start(
    emulator: Emulator, make_connector: MakeConnector
) -> None:
    from helpline.connectors.registry import capabilities_lookup

    await emulator.config(max_characters=1000)
    connector = await make_connector()
    assert connector.capabilities().public.limit == 1000 and connector.capabilities().direct.limit == 1000
    lookup = capabilities_lookup([connector.settings], {("mastodon", connector.account): connector})
    caps = lookup("mastodon", connector.account)
    assert caps is not None and caps.public.limit == 1000
    # A process without the live connector knows only what the configuration says.
    declared = capabilities_lookup([connector.settings])("mastodon", connector.account)
    assert declared is not None and declared.public.limit == 500
