"""Deciding how a reply goes out on X: as a reply tweet thread or as direct messages. Pure.

A DIRECT reply only ever becomes DMs to the customer, a public reply only ever reply tweets; a
reply whose kind, thread key and recipient disagree is refused, never guessed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Literal

from helpline.connectors.base import buttons_as_text
from helpline.connectors.errors import Permanent
from helpline.routing.models import MessageKind, OutboundReply, Visibility

from .parse import PLATFORM
from .text import MAX_TWEET, split_plain, split_thread, weighted_length


@dataclass(frozen=True)
class Plan:
    channel: Literal["tweet", "dm"]
    target: str  # the tweet to reply to, or the DM participant
    conversation: str  # conversation id (tweet) or dm conversation id
    parts: tuple[str, ...]


def plan_reply(reply: OutboundReply, own_id: str, mention: str | None = None) -> Plan:
    """Where and how `reply` is posted. Raises Permanent when the reply is inconsistent.

    `mention` is the handle of the customer a public reply answers: the reply starts with it, as
    replies on X do; each public part ends with the reply's `reference`, so X never sees the same
    text twice (it refuses duplicate content)."""
    if reply.platform != PLATFORM:
        raise Permanent(f"reply {reply.reply_id}: platform {reply.platform!r} is not x")
    scheme, _, conversation = reply.thread_key.partition(":")
    text = buttons_as_text(reply)
    if reply.kind is MessageKind.DIRECT and scheme == "user":
        # A private follow-up to the author of a public tweet (routing.outbound.private_followup).
        if reply.visibility is not Visibility.PRIVATE or not conversation or conversation == own_id:
            raise Permanent(f"reply {reply.reply_id}: a private follow-up needs a user, got {reply.thread_key!r}")
        return Plan("dm", conversation, "", tuple(split_plain(text)))
    if reply.kind is MessageKind.DIRECT:
        if reply.visibility is not Visibility.PRIVATE or scheme != "dm" or not conversation:
            raise Permanent(
                f"reply {reply.reply_id}: a direct reply needs a dm: thread, got "
                f"{reply.thread_key!r}; it is never posted as a tweet"
            )
        participants = conversation.split("-")
        recipient = reply.recipient_id
        if recipient is None:
            others = [p for p in participants if p != own_id]
            recipient = others[0] if len(participants) == 2 and len(others) == 1 else None
        if not recipient or recipient == own_id:
            raise Permanent(f"reply {reply.reply_id}: recipient_id missing for a direct reply")
        if len(participants) == 2 and recipient not in participants:
            raise Permanent(f"reply {reply.reply_id}: recipient {recipient} is not in {reply.thread_key}")
        return Plan("dm", recipient, conversation, tuple(split_plain(text)))
    if reply.kind is MessageKind.GROUP:
        raise Permanent(f"reply {reply.reply_id}: X group conversations are not supported")
    if reply.visibility is not Visibility.PUBLIC or scheme != "tweet" or not conversation:
        raise Permanent(
            f"reply {reply.reply_id}: a public reply needs a tweet: thread, got "
            f"{reply.thread_key!r}; it is never sent as a direct message"
        )
    target = reply.in_reply_to or conversation  # the conversation id is its root tweet's id
    handle = (mention or "").lstrip("@")
    if handle and not text.lower().startswith(f"@{handle.lower()}"):
        text = f"@{handle} {text}"
    suffix = f" (ref {reference(reply.reply_id)})"
    parts = split_thread(text, MAX_TWEET - weighted_length(suffix))
    return Plan("tweet", target, conversation, tuple(part + suffix for part in parts))


def reference(reply_id: str) -> str:
    """A short code of the reply, added to every public part: X refuses a tweet whose text it has
    seen before ("duplicate content"), and templates repeat (the safety message asking a customer
    to write privately, "no article found", the same article's second part) even to one customer.
    Derived from the reply id, so it differs per reply and is the same on a retry."""
    digest = hashlib.blake2b(reply_id.encode(), digest_size=5).digest()
    return base64.b32encode(digest).decode()[:6]
