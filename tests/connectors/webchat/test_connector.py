"""The web chat connector on a real Redis: a visitor's message that came in by another channel
(their answer by e-mail) is shown in the chat once, with its files, unless a machine wrote it."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.webchat.connector import WebchatConnector
from helpline.routing.models import Attachment, InboundMessage

from .stack import mailed_answer

CHAT = "c" * 22


async def _no_ingest(messages: object) -> list[bool]:
    return []


def mailed(message_id: str, text: str, auto_submitted: bool = False) -> InboundMessage:
    statement = Attachment(
        kind="document",
        platform_file_id="1" * 64,
        file_name="statement.pdf",
        mime_type="application/pdf",
        size_bytes=18,
    )
    return mailed_answer(CHAT, "anon:v", text, statement, message_id=message_id, auto_submitted=auto_submitted)


async def test_an_answer_by_e_mail_is_shown_once_and_an_automatic_one_not_at_all(r: redis.Redis) -> None:
    settings = AccountSettings(
        platform="webchat",
        name="site",
        mode="webhook",
        options={"allowed_origins": ["https://example.com"], "identity": "off"},
    )
    connector = WebchatConnector(settings, ConnectorContext(ingest=_no_ingest, redis=r))
    await connector.arrived_elsewhere(mailed("gone@example.com", "too late"), "email")  # no such chat: nothing
    await connector.chats.create(CHAT, "anon:v", "My deposit is missing")
    for _ in range(2):  # read again after a crash
        await connector.arrived_elsewhere(mailed("a2@example.com", "Here is my statement."), "email")
    await connector.arrived_elsewhere(mailed("ooo@example.com", "I am out of office", auto_submitted=True), "email")

    events, _ = await connector.chats.read(CHAT, "0")
    assert [{k: v for k, v in e.as_json().items() if k != "id"} for e in events] == [
        {
            "type": "message",
            "from": "visitor",
            "text": "Here is my statement.",
            "via": "email",
            "files": [{"name": "statement.pdf", "size": 18}],  # not where it is kept: asked for by its place
        }
    ]
    [event] = events
    assert await connector.chats.listed_file(CHAT, event.id, 0) == {
        "name": "statement.pdf",
        "size": 18,
        "id": "1" * 64,
        "type": "application/pdf",
    }
    assert await connector.chats.listed_file(CHAT, event.id, 1) is None
