"""The help-center bot through Telegram: updates in the Bot API wire format from the emulator,
parsed by python-telegram-bot in the connector, routed by the real router and bot chain, and
the replies posted back to the emulator by the real sender."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from helpline.bots.catalog import default_catalog
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.runner import PollRunner
from helpline.connectors.telegram import TelegramConnector
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.models import Conversation, EventType, Status
from helpline.routing.router import Router
from helpline.routing.sender import Sender
from tests.audio import ogg_opus
from tests.factories import Parts, build_router, route_all, settings

from .conftest import ACCOUNT, Emulator

HELPCENTER = {"helpcenter": {"type": "helpcenter", "kb": "kb"}}
ALL_TO_BOT = [{"name": "everything to the help center", "set": {"bot": "helpcenter"}}]
CATALOG = default_catalog()
QUESTION = "how do I increase my daily withdrawal limit"  # kb/eval: answered with withdrawal-limits


@dataclass
class Desk:
    """One Telegram bot account: poller, router, sender."""

    parts: Parts
    emulator: Emulator
    runner: PollRunner
    router: Router
    sender: StreamConsumer

    async def cycle(self) -> None:
        """Everything the platform has is ingested, routed and answered."""
        await self.runner.poll_once()
        await self.runner.poll_once()  # confirms the batch (and answers its button presses)
        await route_all(self.parts, self.router)
        await self.sender.ensure_groups()
        for _ in range(3):
            await self.sender.step()

    async def conversation(self, thread: str) -> Conversation | None:
        cid = await self.parts.store.find_thread("telegram", ACCOUNT, thread)
        return None if cid is None else await self.parts.store.get(cid)

    async def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in await self.emulator.sent() if m["chat_id"] == chat_id]


@pytest.fixture
async def desk(emulator: Emulator, r: redis.Redis, telegram_env: None, tmp_path: Path) -> AsyncIterator[Desk]:
    options = {
        "long_poll_timeout": 0,
        "private_per_second": 100,
        "group_per_minute": 6000,
        "attachments_dir": str(tmp_path / "files"),
    }
    account = {
        "platform": "telegram",
        "name": ACCOUNT,
        "base_url": emulator.url,
        "poll_interval": 0.1,
        "secrets": {"token": "HL_TG_TOKEN"},
        "options": options,
    }
    parts = Parts.build(
        settings(
            accounts=[account],
            rules=ALL_TO_BOT,
            bots=HELPCENTER,
            agents=[{"id": "amy", "name": "Amy", "teams": ["support"]}],
        ),
        r,
    )
    await parts.sync_roster()
    parts.make_connectors()
    connector = parts.connectors[("telegram", ACCOUNT)]
    assert isinstance(connector, TelegramConnector)
    sender = Sender(r, parts.connectors, parts.settings.redis.partitions, limiter=SharedRateLimiter(r))
    consumer = StreamConsumer(
        r,
        keys.SENDER_GROUP,
        "s1",
        sender.streams(),
        sender.handle_batch,
        sender.dead_letter_key,
        block_ms=5,
        retry_idle_ms=30,
    )
    async with connector:
        yield Desk(parts, emulator, PollRunner(r, connector), build_router(parts), consumer)


def buttons_of(sent: dict[str, Any]) -> list[str]:
    markup = sent.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_a_thank_you_with_a_follow_up_question_is_answered_not_resolved(desk: Desk) -> None:
    first = await desk.emulator.customer(801, QUESTION)
    await desk.cycle()
    chat = first["chat_id"]
    [answer] = await desk.sent_to(chat)
    assert buttons_of(answer) == ["yes", "no"]
    await desk.emulator.customer(801, "thanks, and how long does a withdrawal take?")
    await desk.cycle()
    conv = await desk.conversation(f"chat:{chat}")
    assert conv is not None and conv.status is not Status.RESOLVED and conv.handler == "bot:helpcenter"
    replies = await desk.sent_to(chat)
    # A second article asked about again, or (the bot unsure which) a choice of articles.
    offered = (["yes", "no"], ["1", "2", "human"], ["1", "2", "3", "human"])
    assert len(replies) == 2 and buttons_of(replies[1]) in offered
    events = [e.type for e in await desk.parts.store.events(conv.id)]
    assert EventType.HANDOFF not in events and EventType.STATUS in events


async def test_in_a_group_only_the_customer_answers_their_buttons_and_a_double_tap_counts_once(desk: Desk) -> None:
    asked = await desk.emulator.customer(901, QUESTION, kind="group")
    await desk.cycle()
    group = asked["chat_id"]
    [answer] = await desk.sent_to(group)
    yes = buttons_of(answer)[0]
    # Another member of the group presses "Yes" under the answer meant for 901.
    stranger = await desk.emulator.control(
        "button-presses",
        {"user": {"id": 902, "name": "Other"}, "chat_id": group, "message_id": answer["id"], "data": yes},
    )
    await desk.cycle()
    assert await desk.conversation(f"chat:{group}:user:902") is None
    assert len(await desk.sent_to(group)) == 1  # no public "no article found"
    # The customer taps "Yes" twice before anything is processed.
    for _ in range(2):
        await desk.emulator.control(
            "button-presses",
            {"user": {"id": 901, "name": "Cust 901"}, "chat_id": group, "message_id": answer["id"], "data": yes},
        )
    await desk.cycle()
    await desk.cycle()
    conv = await desk.conversation(f"chat:{group}:user:901")
    assert conv is not None and conv.status is Status.RESOLVED and conv.assignee is None
    events = await desk.parts.store.events(conv.id)
    assert EventType.HANDOFF not in [e.type for e in events]
    thanks = [m for m in await desk.sent_to(group) if m["text"].startswith("Great, glad that helped")]
    assert len(thanks) == 1
    answered = (await desk.emulator.http.get("/_emulator/callback-answers")).json()["answered"]
    assert stranger["callback_query_id"] in answered and len(answered) == 3  # every spinner stopped


@pytest.mark.parametrize("kind", ["direct", "group"])
async def test_an_edit_is_kept_in_the_history_and_not_answered_again(desk: Desk, kind: str) -> None:
    asked = await desk.emulator.customer(1001, "how do I increase my withdrawal limit", kind=kind)
    await desk.cycle()
    chat = asked["chat_id"]
    assert len(await desk.sent_to(chat)) == 1
    for text in ("how do I increase my daily withdrawal limit", "how do I increase my daily withdrawal limit?"):
        await desk.emulator.control(
            "edits",
            {
                "chat_id": chat,
                "message_id": asked["message_id"],
                "text": f"@helpline_bot {text}" if kind == "group" else text,
            },
        )
        await desk.cycle()
    assert len(await desk.sent_to(chat)) == 1  # answered once, not once per edit
    thread = f"chat:{chat}" if kind == "direct" else f"chat:{chat}:user:1001"
    conv = await desk.conversation(thread)
    assert conv is not None and conv.handler == "bot:helpcenter" and conv.assignee is None
    history = await desk.parts.store.messages(conv.id)
    assert [m.edited for m in history] == [False, True, True]
    assert history[-1].text == "how do I increase my daily withdrawal limit?"


@pytest.mark.parametrize(
    ("text", "kind", "app_language", "expected"),
    [
        ("/start", "direct", "ko", ("greeting", "ko", "ko")),
        ("/help", "direct", "en", ("help", "en", "en")),
        ("/help", "group", "ja", ("help", "ja", "ja")),
        ("/start@helpline_bot", "group", "zh-hans", ("greeting", "zh", "zh")),
        # a language without articles is not the conversation's: the account's default answers
        ("/start", "direct", "de", ("greeting", "en", None)),
    ],
)
async def test_start_and_help_are_greeted_and_explained_in_the_users_language(
    desk: Desk, text: str, kind: str, app_language: str, expected: tuple[str, str, str | None]
) -> None:
    user = {"id": 1101, "handle": "newcomer", "name": "New Comer", "language_code": app_language}
    sent = await desk.emulator.control(
        "customer-messages", {"user": user, "text": text, "kind": kind, "mention": text == "/help"}
    )
    await desk.cycle()
    chat = sent["chat_id"]
    [reply] = await desk.sent_to(chat)
    assert reply["text"] == CATALOG.text(expected[1], expected[0])
    assert reply["reply_markup"] is None and "help.example.com" not in reply["text"]  # no article
    conv = await desk.conversation(f"chat:{chat}" if kind == "direct" else f"chat:{chat}:user:1101")
    assert conv is not None and conv.handler == "bot:helpcenter" and conv.assignee is None
    assert conv.language == expected[2]
    # The question that follows is answered from the help center.
    await desk.emulator.control("customer-messages", {"user": user, "text": QUESTION, "kind": kind, "chat_id": chat})
    await desk.cycle()
    assert len(await desk.sent_to(chat)) == 2 and "help.example.com" in (await desk.sent_to(chat))[-1]["text"]


PHOTO = [
    {"file_id": "PHOTO-small", "file_unique_id": "ps", "width": 90, "height": 90, "file_size": 1200},
    {"file_id": "PHOTO-large", "file_unique_id": "pl", "width": 1280, "height": 960, "file_size": 80233},
]
STICKER = {
    "file_id": "STICKER-1",
    "file_unique_id": "st1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "file_size": 9000,
}


@pytest.mark.parametrize(("kind", "media"), [("direct", "sticker"), ("group", "photo")])
async def test_a_photo_or_sticker_without_text_goes_to_a_person_not_to_the_search(
    desk: Desk, kind: str, media: str
) -> None:
    user = {"id": 1201, "is_bot": False, "first_name": "Pic", "language_code": "en"}
    if kind == "direct":
        chat = {"id": 1201, "type": "private", "first_name": "Pic"}
        content: dict[str, Any] = {"sticker": STICKER}
    else:  # a group photo reaches the bot with a caption that only mentions it
        chat = {"id": -100555, "type": "supergroup", "title": "Traders"}
        content = {
            "photo": PHOTO,
            "caption": "@helpline_bot",
            "caption_entities": [{"type": "mention", "offset": 0, "length": 13}],
        }
    await desk.emulator.control("chats", {"chats": [{k: v for k, v in chat.items() if k != "first_name"}]})
    message = {"message_id": 77, "date": 1700000000, "chat": chat, "from": user, **content}
    await desk.emulator.control("updates", {"update": {"message": message}})
    await desk.cycle()
    [reply] = await desk.sent_to(chat["id"])
    assert reply["text"] == CATALOG.text("en", "handoff_media", media=media) and reply["reply_markup"] is None
    conv = await desk.conversation(f"chat:{chat['id']}" if kind == "direct" else f"chat:{chat['id']}:user:1201")
    assert conv is not None and conv.handler is None
    [handoff] = [e for e in await desk.parts.store.events(conv.id) if e.type is EventType.HANDOFF]
    assert media in handoff.reason and "article" not in handoff.reason
    [stored] = await desk.parts.store.messages(conv.id)
    assert stored.text == "" and [a.kind for a in stored.attachments] == [media]


async def test_a_voice_note_without_text_is_fetched_stored_and_goes_to_a_person(desk: Desk) -> None:
    voice = ogg_opus(2)
    await desk.emulator.customer(1202, "", voice={"data": base64.b64encode(voice).decode(), "duration": 2})
    await desk.cycle()
    [reply] = await desk.sent_to(1202)
    assert reply["text"] == CATALOG.text("en", "handoff_media", media=CATALOG.text("en", "media_voice"))
    conv = await desk.conversation("chat:1202")
    assert conv is not None and conv.handler is None
    [handoff] = [e for e in await desk.parts.store.events(conv.id) if e.type is EventType.HANDOFF]
    assert "voice" in handoff.reason
    [stored] = await desk.parts.store.messages(conv.id)
    [note] = stored.attachments
    assert (note.kind, note.mime_type, note.size_bytes) == ("voice", "audio/ogg", len(voice))
    assert note.platform_file_id == hashlib.sha256(voice).hexdigest()
    store = desk.parts.connectors[("telegram", ACCOUNT)].files
    assert store is not None and await store.read(note.platform_file_id) == voice


async def test_unsure_bot_offers_inline_choices_and_a_pressed_choice_is_answered(desk: Desk) -> None:
    asked = await desk.emulator.customer(811, "what about my 2fa codes?")  # 2fa-setup or 2fa-reset
    await desk.cycle()
    chat = asked["chat_id"]
    [choices] = await desk.sent_to(chat)
    data = buttons_of(choices)
    assert data[:2] == ["1", "2"] and data[-1] == "human"
    conv = await desk.conversation(f"chat:{chat}")
    assert conv is not None and "bot-clarified" in conv.labels and conv.status is Status.PENDING
    offered = [b["text"] for row in choices["reply_markup"]["inline_keyboard"] for b in row]
    setup = next(i for i, label in enumerate(offered) if "set up" in label.lower())
    await desk.emulator.control(
        "button-presses",
        {"user": {"id": 811, "name": "Cust 811"}, "chat_id": chat, "message_id": choices["id"], "data": data[setup]},
    )
    await desk.cycle()
    replies = await desk.sent_to(chat)
    assert len(replies) == 2 and "articles/2fa-setup" in replies[1]["text"]
    assert buttons_of(replies[1]) == ["yes", "no"]
