"""Deciding where and how a reply goes: pure functions of the reply, no I/O.

The safety rule lives here: a DIRECT reply goes only to a private chat, a GROUP reply only to the
group it came from. Telegram's chat ids say which is which (users are positive, groups and
channels negative), so the check needs no API call.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from helpline.connectors.base import RateLimit
from helpline.connectors.errors import Permanent
from helpline.routing.models import MessageKind, OutboundReply, Visibility

from . import ids
from .text import split_text


def destination(reply: OutboundReply) -> ids.ThreadRef:
    """The chat this reply may go to. Raises Permanent if kind, visibility and thread disagree."""
    thread = ids.parse_thread(reply.thread_key)
    if reply.kind is MessageKind.DIRECT:
        if reply.visibility is not Visibility.PRIVATE or thread.user_id is not None or not thread.is_private_chat:
            raise Permanent(f"refusing a private reply to {reply.thread_key!r}: not a private chat")
        if reply.recipient_id is not None and reply.recipient_id != str(thread.chat_id):
            raise Permanent(
                f"refusing a private reply: recipient {reply.recipient_id} does not own chat {thread.chat_id}"
            )
        return thread
    if reply.kind is MessageKind.GROUP:
        if reply.visibility is not Visibility.PUBLIC or thread.user_id is None or thread.is_private_chat:
            raise Permanent(f"refusing a group reply to {reply.thread_key!r}: not a group thread")
        return thread
    raise Permanent(f"telegram has no {reply.kind.value} threads")


def reply_to_message(reply: OutboundReply, thread: ids.ThreadRef) -> int | None:
    """The customer's message a group reply answers (quoted in the group); None in private chats,
    where the reply is already unambiguous, or when `in_reply_to` is not from this chat."""
    if thread.user_id is None or reply.in_reply_to is None:
        return None
    ref = ids.parse_message_ref(reply.in_reply_to)
    if ref is None or ref[0] != thread.chat_id:
        return None
    return ref[1]


def keyboard(reply: OutboundReply, thread: ids.ThreadRef) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: short choices (a rating) in one row, others one per row.
    In a group, each button says whose answer it is (everyone in the group sees it)."""
    if not reply.buttons:
        return None
    owner = thread.user_id
    buttons = [
        InlineKeyboardButton(b.label, callback_data=b.data if owner is None else ids.owned_callback_data(b.data, owner))
        for b in reply.buttons
    ]
    if len(buttons) <= 5 and all(len(b.label) <= 8 for b in reply.buttons):
        return InlineKeyboardMarkup([buttons])
    return InlineKeyboardMarkup([[b] for b in buttons])


def rate_limits(reply: OutboundReply, limits: dict[str, float]) -> Sequence[RateLimit]:
    """Budgets for the shared limiter. A reply split in n parts spends n units of each budget
    (the period is stretched n times, which for burst 1 is the same thing)."""
    parts = max(1, len(split_text(reply.text)))
    budgets = [RateLimit("bot", rate=max(1, round(limits["bot_per_second"])), period=1.0 * parts)]
    try:
        thread = ids.parse_thread(reply.thread_key)
    except Permanent:
        return budgets  # send() refuses it; spend only the bot-wide budget
    if thread.is_private_chat:
        per_second = limits["private_per_second"]
        budgets.append(RateLimit(f"chat:{thread.chat_id}", rate=1, period=parts / per_second))
    else:
        per_minute = limits["group_per_minute"]
        budgets.append(RateLimit(f"group:{thread.chat_id}", rate=max(1, round(per_minute)), period=60.0 * parts))
    return budgets
