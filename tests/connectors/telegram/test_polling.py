import asyncio
import json
from pathlib import Path

import redis.asyncio as redis

from helpline.connectors.cursors import CursorStore
from helpline.connectors.runner import PollRunner
from helpline.routing.bus import StreamBus
from helpline.routing.models import MessageKind

from .conftest import ACCOUNT, BOT_ID, Emulator, MakeConnector, ingested

PAYLOADS = Path(__file__).parent / "payloads"


async def test_every_kind_is_ingested_through_the_runner(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    private = await emulator.customer(501, "my withdrawal is stuck")
    mention = await emulator.customer(502, "account locked", kind="group")
    chatter = await emulator.customer(503, "anyone around?", kind="group", mention=False)
    # the bot answers the group, then the customer replies to the bot without mentioning it
    async with make_connector() as connector:
        runner = PollRunner(r, connector)
        await runner.poll_once()
        reply_to_bot = await emulator.customer(502, "thanks, still locked", kind="group", reply_to_bot=True)
        edit = await emulator.control(
            "edits",
            {"chat_id": private["chat_id"], "message_id": private["message_id"], "text": "my BTC withdrawal is stuck"},
        )
        doc = {
            "message_id": 900,
            "date": 1700000000,
            "chat": {"id": 501, "type": "private", "first_name": "C"},
            "from": {"id": 501, "is_bot": False, "first_name": "C"},
            "caption": "tx proof",
            "document": {
                "file_id": "DOC1",
                "file_unique_id": "u1",
                "file_name": "tx.png",
                "mime_type": "image/png",
                "file_size": 2048,
            },
        }
        last = await emulator.control("updates", {"update": {"message": doc}})
        await runner.poll_once()
        stored = await CursorStore(r).get("telegram", ACCOUNT)

    messages = await ingested(r, bus)
    by_id = {m.message_id: m for m in messages}
    assert len(messages) == len(by_id) == 5
    assert by_id[f"501:{private['message_id']}"].kind is MessageKind.DIRECT
    group_id = mention["chat_id"]
    assert by_id[f"{group_id}:{mention['message_id']}"].thread_key == f"chat:{group_id}:user:502"
    assert f"{group_id}:{chatter['message_id']}" not in by_id
    replied = by_id[f"{group_id}:{reply_to_bot['message_id']}"]
    assert replied.kind is MessageKind.GROUP and replied.in_reply_to is not None
    edited = by_id[f"501:{private['message_id']}:e{edit['edit_date']}"]
    assert edited.edited and edited.text == "my BTC withdrawal is stuck"
    assert by_id["501:900"].attachments[0].platform_file_id == "DOC1"
    assert stored == str(last["update_id"] + 1)


async def test_callback_is_ingested_and_answered_after_it_is_durable(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    update = json.loads((PAYLOADS / "callback_query.json").read_text())
    await emulator.control("updates", {"update": update})
    async with make_connector() as connector:
        runner = PollRunner(r, connector)
        await runner.poll_once()
        answered = (await emulator.http.get("/_emulator/callback-answers")).json()["answered"]
        assert answered == []  # not yet: the offset that confirms it has not been sent
        await runner.poll_once()
    (message,) = await ingested(r, bus)
    assert message.text == "csat:5"
    answered = (await emulator.http.get("/_emulator/callback-answers")).json()["answered"]
    assert answered == ["4382bfdwdsb323b2d9"]


async def test_bots_and_own_messages_are_not_ingested_but_the_cursor_moves(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    own = {
        "message_id": 1,
        "date": 1700000000,
        "chat": {"id": 501, "type": "private", "first_name": "C"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Helpline", "username": "helpline_bot"},
        "text": "hello from us",
    }
    other = json.loads((PAYLOADS / "other_bot_message.json").read_text())
    await emulator.control("updates", {"update": {"message": own}})
    last = await emulator.control("updates", {"update": other})
    async with make_connector() as connector:
        batch = await connector.fetch(None)
        assert batch.messages == [] and batch.skipped == 2
        assert batch.cursor == str(last["update_id"] + 1)
        await PollRunner(r, connector).poll_once()
    assert await ingested(r, bus) == []


async def test_crash_between_ingest_and_cursor_store_neither_loses_nor_repeats(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    for i in range(3):
        await emulator.customer(600 + i, f"question {i}")
    # process A: fetched and ingested, then died before storing the cursor
    async with make_connector() as a:
        batch = await a.fetch(await CursorStore(r).get("telegram", ACCOUNT))
        assert len(batch.messages) == 3
        await bus.ingest(batch.messages)
    # process A2: fetched, died before ingest
    async with make_connector() as a2:
        assert len((await a2.fetch(None)).messages) == 3
    await emulator.customer(603, "question 3")
    # process B takes over
    async with make_connector() as b:
        runner = PollRunner(r, b)
        await runner.poll_once()
        await runner.poll_once()  # confirms the batch to Telegram
        await emulator.customer(604, "question 4")
        await runner.poll_once()
        await runner.poll_once()
    texts = sorted(m.text for m in await ingested(r, bus))
    assert texts == [f"question {i}" for i in range(5)]
    assert (await emulator.stats())["updates_pending"] == 0


async def test_two_runners_for_one_account_only_one_polls(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    await emulator.customer(700, "hello")
    async with make_connector() as one, make_connector() as two:
        first, second = PollRunner(r, one), PollRunner(r, two)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(x.run(stop)) for x in (first, second)]
        for i in range(3):
            await asyncio.sleep(0.3)
            await emulator.customer(701 + i, f"more {i}")
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)
    assert sorted([first.polls > 0, second.polls > 0]) == [False, True]
    assert len(await ingested(r, bus)) == 4
    assert (await emulator.stats())["conflicts"] == 0


async def test_an_unreadable_update_is_skipped_and_counted_not_a_wall_for_the_ones_behind_it(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, bus: StreamBus
) -> None:
    await emulator.customer(801, "before")
    # a message PTB cannot read (no date, no chat type): it must not stop the account for good
    await emulator.control("updates", {"update": {"message": {"message_id": 5, "chat": {"id": 801}}}})
    last = await emulator.customer(802, "after")
    async with make_connector() as connector:
        batch = await connector.fetch(None)
        assert sorted(m.text for m in batch.messages) == ["after", "before"]
        assert batch.skipped == 1 and batch.cursor == str(last["update_id"] + 1)
        runner = PollRunner(r, connector)
        await runner.poll_once()
        await runner.poll_once()
    assert sorted(m.text for m in await ingested(r, bus)) == ["after", "before"]
    assert await CursorStore(r).get("telegram", ACCOUNT) == str(last["update_id"] + 1)
