"""Publishing announcements on Telegram: a channel or group post, or a subscriber's private chat.

Where a post may go is decided from the chat id alone, like replies (`outbound.py`): a post for a
channel or group needs a negative chat id, a post for a subscriber a positive one (a user's private
chat). Parts are already rendered (escaped for parse_mode HTML when `post.parse_mode` says so).

Residual window, as for replies: Telegram has no idempotency key, so a part accepted by Telegram
whose `progress.record()` did not run (the process died in between) is unknown to us; the
publisher marks such a delivery "uncertain" instead of posting it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram import error as tg
from telegram.ext import ExtBot

from helpline.connectors.base import RateLimit, SendProgress, SendResult
from helpline.connectors.errors import ConnectorError, Permanent
from helpline.connectors.publishing import Destination, OutboundPost


def chat_of(post: OutboundPost) -> int:
    """The chat id a post may go to. Raises Permanent if destination and chat id disagree."""
    try:
        chat_id = int(post.chat_id or "")
    except ValueError:
        raise Permanent(f"post {post.post_id}: chat_id {post.chat_id!r} is not a Telegram chat id") from None
    if post.destination is Destination.CHAT and chat_id < 0:
        return chat_id
    if post.destination is Destination.SUBSCRIBER and chat_id > 0:
        return chat_id
    if post.destination is Destination.TIMELINE:
        raise Permanent(f"post {post.post_id}: a Telegram bot has no timeline; target a channel id")
    raise Permanent(
        f"post {post.post_id}: {post.destination.value} posts need a "
        f"{'negative (channel/group)' if post.destination is Destination.CHAT else 'positive (user)'}"
        f" chat id, got {chat_id}"
    )


def post_url(chat: Chat, message_id: int) -> str | None:
    """A t.me link to a channel or supergroup post; private chats and basic groups have none."""
    if chat.type not in (Chat.CHANNEL, Chat.SUPERGROUP):
        return None
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    internal = str(chat.id).removeprefix("-100")  # private channels: t.me/c/<id without -100>/<msg>
    return f"https://t.me/c/{internal}/{message_id}" if internal != str(chat.id) else None


def keyboard(post: OutboundPost) -> InlineKeyboardMarkup | None:
    if not post.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data) for b in post.buttons]])


def rate_limits(post: OutboundPost, limits: dict[str, float]) -> Sequence[RateLimit]:
    """The bot's overall budget (≈30/s, which broadcasts share with replies) and the chat's:
    1/s for a private chat, 20/min for a group or channel. n parts spend n units."""
    parts = len(post.parts)
    rate = max(1, round(limits["bot_per_second"]))
    # A small burst lets a paced broadcast catch up the milliseconds each grant arrives late
    # (with burst 1 they add up to ~5% of the rate); the long-run rate stays `rate`.
    budgets = [RateLimit("bot", rate=rate, period=1.0 * parts, burst=max(1, rate // 10))]
    if post.destination is Destination.SUBSCRIBER:
        budgets.append(RateLimit(f"chat:{post.chat_id}", rate=1, period=parts / limits["private_per_second"]))
    else:
        per_minute = max(1, round(limits["group_per_minute"]))
        budgets.append(RateLimit(f"group:{post.chat_id}", rate=per_minute, period=60.0 * parts))
    return budgets


async def publish_post(
    bot: ExtBot[None],
    post: OutboundPost,
    progress: SendProgress,
    *,
    origin: int,
    chat_id: int,
    on_error: Callable[[tg.TelegramError], ConnectorError],
    on_migrated: Callable[[int, int], Awaitable[None]],
) -> SendResult:
    """Post the parts not yet in `progress.posted`, recording each one as Telegram accepts it."""
    markup = keyboard(post)
    url: str | None = None
    for index, text in enumerate(post.parts):
        if index < len(progress.posted):
            continue
        last = index == len(post.parts) - 1

        def attempt(target: int, text: str = text, last: bool = last) -> Awaitable[Message]:
            return bot.send_message(target, text, parse_mode=post.parse_mode, reply_markup=markup if last else None)

        try:
            sent = await attempt(chat_id)
        except tg.ChatMigrated as exc:  # the group became a supergroup: remember, retry once there
            await on_migrated(origin, exc.new_chat_id)
            chat_id = exc.new_chat_id
            try:
                sent = await attempt(chat_id)
            except tg.TelegramError as again:
                raise on_error(again) from None
        except tg.TelegramError as exc:
            raise on_error(exc) from None
        if index == 0:
            url = post_url(sent.chat, sent.message_id)
        await progress.record(str(sent.message_id))
    return SendResult(tuple(progress.posted), url)
