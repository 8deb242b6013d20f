"""Telegram `Update` -> `InboundMessage`: pure matching, no I/O.

What is ingested, and as what:

- a private chat message -> DIRECT, thread ``chat:<chat_id>``
- a group/supergroup message that addresses the bot (an @username mention, a text_mention of the
  bot, a /command@bot, or a reply to one of the bot's messages) -> GROUP, thread
  ``chat:<chat_id>:user:<user_id>``; other group chatter is skipped
- an edit of either -> the same, with ``edited=True`` and a message id unique to the edit
- an inline keyboard button press -> an InboundMessage whose text is the button's data, once per
  keyboard (a double tap is one answer); in a group, only from the person the keyboard was for
  (another member's press is skipped, and acknowledged like every press)

Skipped: messages from bots (the bot itself included), channel posts, messages without a human
sender, service messages (joins, pins, migrations...) and content with neither text nor a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import Bot, CallbackQuery, Chat, Message, MessageEntity, Update, User

from helpline.routing.models import Attachment, Author, InboundMessage, MessageKind

from . import ids

PLATFORM = "telegram"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str  # without the @


def update_from_json(data: dict[str, Any], bot: Bot | None = None) -> Update:
    """Parse a raw update (webhook body, recorded payload) with PTB. Raises on a malformed one."""
    update = Update.de_json(data, bot)
    if update is None:
        raise ValueError("empty update")
    return update


def parse_update(update: Update, account: str, me: BotIdentity) -> InboundMessage | None:
    """The message to ingest for `update`, or None if it is not for the support desk."""
    if update.message is not None:
        return _from_message(update.message, account, me, edited=False)
    if update.edited_message is not None:
        return _from_message(update.edited_message, account, me, edited=True)
    if update.callback_query is not None:
        return _from_callback(update.callback_query, account, me)
    return None  # channel posts, inline queries, member updates...


def _kind(chat: Chat) -> MessageKind | None:
    if chat.type == Chat.PRIVATE:
        return MessageKind.DIRECT
    if chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        return MessageKind.GROUP
    return None


def _thread(kind: MessageKind, chat_id: int, user_id: int) -> str:
    return ids.private_thread(chat_id) if kind is MessageKind.DIRECT else ids.group_thread(chat_id, user_id)


def _author(user: User) -> Author:
    return Author(
        user_id=str(user.id),
        handle=f"@{user.username}" if user.username else "",
        display_name=user.full_name[:256],
        is_bot=user.is_bot,
    )


def app_language(user: User) -> str | None:
    """The primary subtag of the user's Telegram app language ("pt-br" -> "pt"), if well formed."""
    code = (user.language_code or "").split("-")[0].lower()
    return code if _LANGUAGE.fullmatch(code) else None


def addresses_bot(message: Message, me: BotIdentity) -> bool:
    """True if a group message is meant for the bot: mentioned, commanded, or replied to."""
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        return True
    mention = f"@{me.username}".casefold()
    for entities, parse in (
        (message.entities, message.parse_entity),
        (message.caption_entities, message.parse_caption_entity),
    ):
        for entity in entities:
            if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
                if entity.user.id == me.id:
                    return True
            elif entity.type == MessageEntity.MENTION:
                if parse(entity).casefold() == mention:
                    return True
            elif entity.type == MessageEntity.BOT_COMMAND and parse(entity).casefold().endswith(mention):
                return True
    return False


def strip_leading_mention(text: str, me: BotIdentity) -> str:
    """ "@helpline_bot my withdrawal..." -> "my withdrawal...": the address is not the question.
    A message that is only the mention keeps it (it still asks for attention)."""
    handle = f"@{me.username}"
    if text[: len(handle)].casefold() == handle.casefold():
        rest = text[len(handle) :].lstrip(" ,:\n")
        return rest or text
    return text


def attachments(message: Message) -> tuple[Attachment, ...]:
    """File metadata only; the files stay on Telegram until someone asks for them (getFile)."""
    found: list[Attachment] = []
    if message.photo:
        largest = message.photo[-1]  # sizes come smallest first
        found.append(
            Attachment(
                kind="photo", platform_file_id=largest.file_id, mime_type="image/jpeg", size_bytes=largest.file_size
            )
        )
    for kind in ("document", "video", "audio", "voice", "animation", "video_note", "sticker"):
        media = getattr(message, kind, None)
        if media is None:
            continue
        found.append(
            Attachment(
                kind=kind,
                platform_file_id=media.file_id,
                mime_type=getattr(media, "mime_type", None),
                file_name=getattr(media, "file_name", None),
                size_bytes=media.file_size,
            )
        )
    return tuple(found)


def _from_message(message: Message, account: str, me: BotIdentity, *, edited: bool) -> InboundMessage | None:
    user = message.from_user
    kind = _kind(message.chat)
    if kind is None or user is None or user.is_bot or user.id == me.id:
        return None
    if message.sender_chat is not None:
        return None  # posted on behalf of a channel or as an anonymous admin: no customer to answer
    text = message.text or message.caption or ""
    files = attachments(message)
    if not text and not files:
        return None  # service message, or content we do not carry (location, poll, dice...)
    if kind is MessageKind.GROUP and not addresses_bot(message, me):
        return None
    if kind is MessageKind.GROUP:
        text = strip_leading_mention(text, me)
        if files and text.casefold() == f"@{me.username}".casefold():
            text = ""  # the caption only addressed the bot: the photo is the message
    chat_id = message.chat.id
    if edited:
        edit_date = message.edit_date or message.date
        message_id = ids.edit_ref(chat_id, message.message_id, int(edit_date.timestamp()))
        when = edit_date
    else:
        message_id = ids.message_ref(chat_id, message.message_id)
        when = message.date
    reply = message.reply_to_message
    return InboundMessage(
        platform=PLATFORM,
        account=account,
        kind=kind,
        message_id=message_id,
        thread_key=_thread(kind, chat_id, user.id),
        author=_author(user),
        text=text,
        # language_code is the customer's app language, not the message's: the router detects the
        # message's. A command (/start) says nothing about its language, so the app's is the hint.
        language=app_language(user) if text.startswith("/") else None,
        attachments=files,
        in_reply_to=ids.message_ref(chat_id, reply.message_id) if reply is not None else None,
        edited=edited,
        platform_time=when,
    )


def _from_callback(query: CallbackQuery, account: str, me: BotIdentity) -> InboundMessage | None:
    user = query.from_user
    carrier = query.message
    if user.is_bot or user.id == me.id or carrier is None or query.data is None:
        return None  # inline-mode keyboards have no chat to answer in; games carry no data
    kind = _kind(carrier.chat)
    if kind is None:
        return None
    data = query.data
    if kind is MessageKind.GROUP:
        data, owner = ids.callback_owner(data)
        if owner is None:  # an unmarked keyboard: the answer is for the message it quotes, if a customer's
            replied = carrier.reply_to_message if isinstance(carrier, Message) else None
            quoted = replied.from_user if replied is not None else None
            owner = quoted.id if quoted is not None and quoted.id != me.id else None
        if owner is not None and owner != user.id:
            return None  # someone else's answer: not their question (the press is still acknowledged)
    chat_id = carrier.chat.id
    return InboundMessage(
        platform=PLATFORM,
        account=account,
        kind=kind,
        message_id=ids.callback_ref(chat_id, carrier.message_id),  # a double tap is one answer
        thread_key=_thread(kind, chat_id, user.id),
        author=_author(user),
        text=data,
        in_reply_to=ids.message_ref(chat_id, carrier.message_id),
        platform_time=datetime.now(UTC),  # a button press carries no date of its own
    )
