import json
from pathlib import Path
from typing import Any

import pytest

from helpline.connectors.telegram.parse import BotIdentity, parse_update, update_from_json
from helpline.routing.models import InboundMessage, MessageKind

PAYLOADS = Path(__file__).parent / "payloads"
ME = BotIdentity(id=123456, username="helpline_bot")


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((PAYLOADS / f"{name}.json").read_text()))


def parse(name: str) -> InboundMessage | None:
    return parse_update(update_from_json(load(name)), "support", ME)


def test_every_recorded_payload_parses() -> None:
    files = sorted(PAYLOADS.glob("*.json"))
    assert len(files) >= 10
    for path in files:
        update = update_from_json(json.loads(path.read_text()))
        assert update.update_id >= 10000, path.name


def test_private_text() -> None:
    m = parse("message_text_private")
    assert m is not None
    assert (m.kind, m.thread_key, m.message_id) == (MessageKind.DIRECT, "chat:1111111", "1111111:1365")
    assert m.text == "/start"
    assert m.author.user_id == "1111111"
    assert m.author.handle == "@Test"
    assert m.author.display_name == "Test Test Lastname"
    assert not m.author.is_bot and not m.edited
    assert m.platform_time.timestamp() == 1441645532


def test_group_reply_to_bot() -> None:
    m = parse("message_reply_group")
    assert m is not None
    assert m.kind is MessageKind.GROUP
    assert m.thread_key == "chat:-1001234567890:user:1111111"
    assert m.in_reply_to == "-1001234567890:1334"


def test_group_mention_with_non_ascii_text() -> None:
    m = parse("message_entities_group_mention")
    assert m is not None and m.kind is MessageKind.GROUP
    assert m.text.startswith("출금이")  # a mention inside the text stays


def test_leading_mention_is_stripped_from_group_text() -> None:
    data = load("other_bot_message")
    data["message"]["from"] = {"id": 42, "is_bot": False, "first_name": "Kim"}
    m = parse_update(update_from_json(data), "support", ME)
    assert m is not None and m.text == "BTC is 100000"
    data["message"]["text"] = "@helpline_bot"
    data["message"]["entities"][0]["length"] = 13
    m = parse_update(update_from_json(data), "support", ME)
    assert m is not None and m.text == "@helpline_bot"


def test_group_text_mention_of_the_bot() -> None:
    m = parse("text_mention_group")
    assert m is not None
    assert m.thread_key == "chat:-1001234567890:user:2222222"
    assert m.author.display_name == "佐藤 花子"
    assert m.author.handle == ""


def test_edit_gets_its_own_id() -> None:
    m = parse("edited_message")
    assert m is not None and m.edited
    assert m.message_id == "1111111:1365:e1441646600"
    assert m.platform_time.timestamp() == 1441646600


def test_document_and_photo_attachments() -> None:
    doc = parse("document_message")
    assert doc is not None and doc.text == "my withdrawal statement"
    (a,) = doc.attachments
    assert (a.kind, a.platform_file_id, a.mime_type, a.file_name, a.size_bytes) == (
        "document",
        "AwADBAADbXXXXXXXXXXGBdhD2l6_XX",
        "application/pdf",
        "statement.pdf",
        104857,
    )
    photo = parse("photo_message")
    assert photo is not None
    (p,) = photo.attachments
    assert (p.kind, p.platform_file_id, p.size_bytes) == ("photo", "AgADBAADlarge", 80233)  # the largest size


def test_callback_query() -> None:
    m = parse("callback_query")
    assert m is not None
    assert m.text == "csat:5"
    assert m.kind is MessageKind.DIRECT
    assert m.message_id == "1111111:1400:cb"  # per keyboard: a second tap is the same message
    assert m.in_reply_to == "1111111:1400"


def group_press(presser: int, data: str, quoted: int | None) -> dict[str, Any]:
    chat = {"id": -100200, "type": "supergroup", "title": "Traders"}
    carrier: dict[str, Any] = {
        "message_id": 50,
        "date": 1441645000,
        "chat": chat,
        "text": "Did this solve it?",
        "from": {"id": ME.id, "is_bot": True, "first_name": "Helpline", "username": ME.username},
    }
    if quoted is not None:
        carrier["reply_to_message"] = {
            "message_id": 49,
            "date": 1441644990,
            "chat": chat,
            "text": "q",
            "from": {"id": quoted, "is_bot": quoted == ME.id, "first_name": "Q"},
        }
    return {
        "update_id": 10100,
        "callback_query": {
            "id": "77",
            "from": {"id": presser, "is_bot": False, "first_name": "P"},
            "message": carrier,
            "chat_instance": "1",
            "data": data,
        },
    }


@pytest.mark.parametrize(
    ("presser", "data", "quoted", "taken"),
    [
        (901, "yes|901", None, True),  # the customer the keyboard was for
        (902, "yes|901", None, False),  # another member of the group
        (902, "yes", 901, False),  # an unmarked keyboard quoting customer 901's question
        (901, "yes", 901, True),
        (902, "yes", ME.id, True),  # unmarked and quoting the bot itself: whoever presses
        (902, "yes", None, True),
    ],
)
def test_a_group_press_counts_only_from_the_customer_the_answer_was_for(
    presser: int, data: str, quoted: int | None, taken: bool
) -> None:
    m = parse_update(update_from_json(group_press(presser, data, quoted)), "support", ME)
    assert (m is not None) is taken
    if m is not None:
        assert m.text == "yes" and m.thread_key == f"chat:-100200:user:{presser}"


@pytest.mark.parametrize(
    "name",
    [
        "channel_post",
        "service_new_chat_members",
        "other_bot_message",
        "anonymous_admin_message",
        "group_chatter",
        "migrate_to_supergroup",
    ],
)
def test_skipped(name: str) -> None:
    assert parse(name) is None


def test_own_message_and_unaddressed_group_reply_are_skipped() -> None:
    own = load("message_text_private")
    own["message"]["from"] = {"id": ME.id, "is_bot": True, "first_name": "Helpline", "username": ME.username}
    assert parse_update(update_from_json(own), "support", ME) is None
    reply_to_other = load("message_reply_group")
    reply_to_other["message"]["reply_to_message"]["from"] = {"id": 42, "is_bot": False, "first_name": "X"}
    assert parse_update(update_from_json(reply_to_other), "support", ME) is None


def test_mention_of_a_similar_name_is_not_ours() -> None:
    data = load("message_entities_group_mention")
    data["message"]["text"] = data["message"]["text"].replace("@helpline_bot", "@helpline_bo2")
    assert parse_update(update_from_json(data), "support", ME) is None
