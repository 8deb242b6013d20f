"""Telegram broadcast subscribers: who opted in to a bot's announcements.

Opting in and out arrives as ordinary inbound messages in the user's private chat with the bot:
`/subscribe`, `/unsubscribe` (also `/subscribe@botname`), or a press of the inline button whose
callback data is `SUBSCRIBE_DATA` / `UNSUBSCRIBE_DATA`. `subscription_command` recognises them
(pure); `apply_subscription` records the choice and says what to answer. Only private chats
count: a broadcast goes to the subscriber's own chat, never into a group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as redis

from helpline.connectors.errors import Permanent
from helpline.connectors.telegram import ids
from helpline.routing import keys
from helpline.routing.models import InboundMessage, MessageKind, ReplyButton

from .catalog import Catalog, default_catalog

Command = Literal["subscribe", "unsubscribe"]
SUBSCRIBE_DATA = "announcements:subscribe"
UNSUBSCRIBE_DATA = "announcements:unsubscribe"
_COMMANDS: dict[str, Command] = {"/subscribe": "subscribe", "/unsubscribe": "unsubscribe"}


def subscription_command(message: InboundMessage) -> Command | None:
    """ "subscribe", "unsubscribe" or None for a Telegram private message. Pure."""
    if message.platform != "telegram" or message.kind is not MessageKind.DIRECT:
        return None
    text = message.text.strip()
    if text == SUBSCRIBE_DATA:
        return "subscribe"
    if text == UNSUBSCRIBE_DATA:
        return "unsubscribe"
    words = text.split()
    if not words or len(words) > 2:
        return None
    head = words[0].split("@", 1)[0].lower()  # /subscribe@helpline_bot
    if len(words) == 2:  # the deep link t.me/<bot>?start=subscribe arrives as "/start subscribe"
        return "subscribe" if head == "/start" and words[1].lower() == "subscribe" else None
    return _COMMANDS.get(head)


def chat_id_of(message: InboundMessage) -> int:
    """The subscriber's private chat id (its thread is "chat:<id>")."""
    thread = ids.parse_thread(message.thread_key)
    if not thread.is_private_chat or thread.user_id is not None:
        raise Permanent(f"{message.thread_key!r} is not a private chat")
    return thread.chat_id


def button(command: Command, language: str | None, catalog: Catalog | None = None) -> ReplyButton:
    """The inline button that does `command` (its label in the customer's language)."""
    c = catalog or default_catalog()
    if command == "subscribe":
        return ReplyButton(label=c.text("button_subscribe", language)[:64], data=SUBSCRIBE_DATA)
    return ReplyButton(label=c.text("button_unsubscribe", language)[:64], data=UNSUBSCRIBE_DATA)


class SubscriberStore:
    """A Redis set of chat ids per bot account. Every operation is idempotent."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def subscribe(self, account: str, chat_id: int) -> bool:
        """True if the chat was not subscribed before."""
        return bool(await self.client.sadd(keys.subscribers("telegram", account), str(chat_id)))  # type: ignore[misc]

    async def unsubscribe(self, account: str, chat_id: int) -> bool:
        return bool(await self.client.srem(keys.subscribers("telegram", account), str(chat_id)))  # type: ignore[misc]

    async def is_subscribed(self, account: str, chat_id: int) -> bool:
        return bool(await self.client.sismember(keys.subscribers("telegram", account), str(chat_id)))  # type: ignore[misc]

    async def count(self, account: str) -> int:
        return int(await self.client.scard(keys.subscribers("telegram", account)))  # type: ignore[misc]

    async def scan(self, account: str, batch: int = 1000) -> AsyncIterator[list[int]]:
        """Chat ids in batches (SSCAN: a member present for the whole scan is seen at least once;
        callers dedupe, as the publisher's delivery records do)."""
        cursor = 0
        while True:
            cursor, members = await self.client.sscan(keys.subscribers("telegram", account), cursor, count=batch)
            if members:
                yield sorted(int(m) for m in members)
            if cursor == 0:
                break


@dataclass(frozen=True)
class SubscriptionReply:
    command: Command
    changed: bool  # False: they were already (un)subscribed
    text: str
    buttons: tuple[ReplyButton, ...]


async def apply_subscription(
    store: SubscriberStore, message: InboundMessage, language: str | None, catalog: Catalog | None = None
) -> SubscriptionReply | None:
    """Record a subscription command and say what to answer; None if `message` is not one.
    Idempotent: a redelivered command changes nothing and gets the same answer."""
    command = subscription_command(message)
    if command is None:
        return None
    c = catalog or default_catalog()
    chat_id = chat_id_of(message)
    if command == "subscribe":
        changed = await store.subscribe(message.account, chat_id)
        return SubscriptionReply(
            command, changed, c.text("subscribed", language), (button("unsubscribe", language, c),)
        )
    changed = await store.unsubscribe(message.account, chat_id)
    return SubscriptionReply(command, changed, c.text("unsubscribed", language), (button("subscribe", language, c),))
