"""Publishing: a post the company makes on its own (an announcement), not a reply in a thread.

The wire model a publish job carries. It is rendered before it is queued: `parts` are the exact
texts to post, in order (an X thread, Telegram's 4096-character pieces, a Mastodon chain), so a
retry posts the same parts and `SendProgress` can skip the ones already accepted.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from helpline.routing.models import AccountName, PlatformName, ReplyButton, Wire


class Destination(StrEnum):
    TIMELINE = "timeline"  # the account's own public timeline (an X tweet, a Mastodon status)
    CHAT = "chat"  # a Telegram channel or group, by chat id
    SUBSCRIBER = "subscriber"  # one opted-in subscriber's private chat with the bot


class OutboundPost(Wire):
    """One post (possibly several parts) to one destination. `post_id` is deterministic:
    "<announcement id>:<delivery id>", so queuing it twice posts it once."""

    post_id: str = Field(min_length=1, max_length=200)
    platform: PlatformName
    account: AccountName
    destination: Destination
    chat_id: str | None = None  # CHAT and SUBSCRIBER
    parts: tuple[str, ...] = Field(min_length=1)
    parse_mode: str | None = None  # Telegram: "HTML" when the parts are escaped HTML
    buttons: tuple[ReplyButton, ...] = ()  # on the last part (Telegram inline keyboard)
