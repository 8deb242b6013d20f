import asyncio
from typing import Any

import pytest
import redis.asyncio as redis

from helpline.connectors.base import SendProgress
from helpline.connectors.emulation import free_port
from helpline.connectors.errors import AuthFailed, Permanent, RateLimited, Transient
from helpline.routing import keys
from helpline.routing.models import MessageKind, OutboundReply, ReplyButton

from .conftest import ACCOUNT, TOKEN, Emulator, MakeConnector

# PTB's own RetryAfter constructor warns about a future type change; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type")


def reply(
    thread_key: str, text: str = "We are on it.", kind: MessageKind = MessageKind.DIRECT, **extra: Any
) -> OutboundReply:
    return OutboundReply(
        reply_id=f"r-{thread_key}-{len(text)}",
        conversation_id="0-1",
        platform="telegram",
        account=ACCOUNT,
        kind=kind,
        thread_key=thread_key,
        visibility=kind.visibility,
        text=text,
        sender="agent:amy",
        **extra,
    )


async def test_direct_and_group_replies_land_where_they_belong(
    emulator: Emulator, make_connector: MakeConnector
) -> None:
    private = await emulator.customer(801, "help")
    group = await emulator.customer(802, "help in public", kind="group")
    gid = group["chat_id"]
    async with make_connector() as c:
        direct = await c.send(reply("chat:801", in_reply_to=f"801:{private['message_id']}"), SendProgress())
        public = await c.send(
            reply(
                f"chat:{gid}:user:802", "Answered here.", MessageKind.GROUP, in_reply_to=f"{gid}:{group['message_id']}"
            ),
            SendProgress(),
        )
    sent = await emulator.sent()
    assert [(s["chat_id"], s["chat_type"], s["kind"], s["visibility"], s["in_reply_to"]) for s in sent] == [
        (801, "private", "direct", "private", None),
        (gid, "supergroup", "group", "public", group["message_id"]),
    ]
    assert direct.platform_message_ids == (str(sent[0]["id"]),)
    assert public.platform_message_ids == (str(sent[1]["id"]),)


async def test_a_private_reply_never_goes_to_a_group(emulator: Emulator, make_connector: MakeConnector) -> None:
    group = await emulator.customer(803, "psst", kind="group")
    gid = group["chat_id"]
    async with make_connector() as c:
        for bad in (reply(f"chat:{gid}"), reply(f"chat:{gid}:user:803"), reply("chat:803", recipient_id="999")):
            with pytest.raises(Permanent):
                await c.send(bad, SendProgress())
        with pytest.raises(Permanent):  # and a group reply never goes to a private chat
            await c.send(reply("chat:803:user:803", kind=MessageKind.GROUP), SendProgress())
        with pytest.raises(Permanent):
            await c.send(reply("chat:803", kind=MessageKind.MENTION), SendProgress())
    assert await emulator.sent() == []


async def test_long_text_is_split_and_resumed_from_progress(emulator: Emulator, make_connector: MakeConnector) -> None:
    await emulator.customer(804, "explain everything")
    paragraphs = [f"Step {i}: " + "details " * 450 for i in range(3)]  # ~3600 characters each
    long = reply("chat:804", "\n\n".join(paragraphs), buttons=(ReplyButton(label="Good", data="csat:5"),))
    recorded: list[str] = []

    async def record(message_id: str) -> None:
        recorded.append(message_id)

    async with make_connector() as c:
        # a first attempt posted part one and then died
        first = await c.send(reply("chat:804", paragraphs[0].strip()), SendProgress())
        result = await c.send(long, SendProgress(first.platform_message_ids, record))
    sent = await emulator.sent()
    assert [s["text"] for s in sent] == [p.strip() for p in paragraphs]
    assert recorded == [str(s["id"]) for s in sent[1:]]
    assert result.platform_message_ids == tuple(str(s["id"]) for s in sent)
    assert sent[-1]["reply_markup"] == {"inline_keyboard": [[{"text": "Good", "callback_data": "csat:5"}]]}
    assert sent[0]["reply_markup"] is None


async def test_429_storm_then_every_reply_delivered_exactly_once(
    emulator: Emulator, make_connector: MakeConnector
) -> None:
    await emulator.control("config", {"global_per_second": 4, "global_burst": 2})
    users = list(range(900, 912))
    for user in users:
        await emulator.customer(user, "hi")
    pending = {user: reply(f"chat:{user}", f"Answer for {user}") for user in users}
    progress = {user: SendProgress() for user in users}
    waits: list[float] = []
    async with make_connector() as c:
        for _ in range(50):
            if not pending:
                break
            for user in list(pending):
                try:
                    await c.send(pending[user], progress[user])
                except RateLimited as exc:
                    waits.append(exc.retry_after)
                    assert "flood" in (c.health().last_error or "")
                    await asyncio.sleep(exc.retry_after)  # the caller schedules; the client never sleeps
                    break
                del pending[user]
    assert not pending
    assert waits and all(w >= 1 for w in waits)
    sent = await emulator.sent()
    assert sorted(s["chat_id"] for s in sent) == users
    assert (await emulator.stats())["rate_limited_responses"] == len(waits)
    assert c.health().last_error is None  # recovered


async def test_migrated_group_is_remembered_and_retried_once(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    message = await emulator.customer(805, "vip question", kind="group", chat_id=-4000001)
    new_id = (await emulator.control("migrations", {"chat_id": -4000001}))["new_chat_id"]
    async with make_connector() as c:
        for text in ("first answer", "second answer"):
            await c.send(
                reply(
                    "chat:-4000001:user:805", text, MessageKind.GROUP, in_reply_to=f"-4000001:{message['message_id']}"
                ),
                SendProgress(),
            )
    sent = await emulator.sent()
    assert [(s["chat_id"], s["text"]) for s in sent] == [(new_id, "first answer"), (new_id, "second answer")]
    assert (await emulator.stats()).get("errors_400") == 1  # the second reply went straight there
    state_key = keys.connector_state("telegram", ACCOUNT, "chat-migrations")
    assert await r.hget(state_key, "-4000001") == str(new_id).encode()  # type: ignore[misc]


async def test_error_mapping(
    emulator: Emulator, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    await emulator.customer(806, "bye")
    await emulator.control("blocks", {"user_id": 806})
    async with make_connector() as c:
        with pytest.raises(Permanent, match="blocked"):
            await c.send(reply("chat:806"), SendProgress())
        with pytest.raises(Permanent, match=r"(?i)chat not found"):
            await c.send(reply("chat:4242"), SendProgress())
    monkeypatch.setenv("HL_TG_TOKEN", "999:wrong-token")
    with pytest.raises(AuthFailed) as failed:
        await make_connector().start()
    assert "999:wrong-token" not in str(failed.value)
    with pytest.raises(Transient):
        await make_connector(base_url=f"http://127.0.0.1:{free_port()}").fetch(None)
    assert TOKEN.split(":")[1] not in str(failed.value)


def test_rate_limit_budgets_name_the_chat(make_connector: MakeConnector) -> None:
    c = make_connector()
    direct = {b.key: b for b in c.rate_limits(reply("chat:801"))}
    assert direct["bot"].rate == 30 and direct["bot"].period == 1
    assert (direct["chat:801"].rate, direct["chat:801"].period) == (1, 1)
    group = {b.key: b for b in c.rate_limits(reply("chat:-100123:user:801", kind=MessageKind.GROUP))}
    assert (group["group:-100123"].rate, group["group:-100123"].period) == (20, 60)
    three_parts = {b.key: b for b in c.rate_limits(reply("chat:801", "word " * 2400))}
    assert three_parts["chat:801"].period == 3  # a reply in three parts spends three units


async def test_a_blank_reply_is_refused_not_recorded_as_sent(emulator: Emulator, make_connector: MakeConnector) -> None:
    await emulator.customer(811, "hello?")
    async with make_connector() as c:
        with pytest.raises(Permanent):  # else the sender marks it "sent" with nothing posted
            await c.send(reply("chat:811", " \n "), SendProgress())
    assert await emulator.sent() == []
