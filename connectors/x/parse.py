"""X payloads to wire models. Pure functions of data: no client, no Redis, no clock.

Two shapes arrive: API v2 (mentions timeline, dm_events) when polling, and the v1.1 objects the
Account Activity API delivers to webhooks. Both map to the same kinds and thread keys:
public posts to `tweet:<conversation_id>`, direct messages to `dm:<dm_conversation_id>`, where a
one-to-one conversation id is "<smaller user id>-<larger user id>" as X forms it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helpline.routing.models import Attachment, Author, InboundMessage, MessageKind

log = logging.getLogger(__name__)

PLATFORM = "x"

_LEADING_MENTIONS = re.compile(r"^(?:\s*@\w{1,15})+\s+")


def id_key(snowflake: str) -> tuple[int, str]:
    """Sort key of a numeric X id kept as a string (ids exceed 2**53, compare as numbers)."""
    return (len(snowflake), snowflake)


def newest(*ids: str | None) -> str | None:
    present = [i for i in ids if i]
    return max(present, key=id_key) if present else None


def tweet_thread(conversation_id: str) -> str:
    return f"tweet:{conversation_id}"


def dm_thread(dm_conversation_id: str) -> str:
    return f"dm:{dm_conversation_id}"


def dm_conversation_id(user_a: str, user_b: str) -> str:
    low, high = sorted((user_a, user_b), key=id_key)
    return f"{low}-{high}"


def strip_reply_mentions(text: str) -> str:
    """Drop the run of @handles X prefixes to replies; keep the text if nothing else is left."""
    stripped = _LEADING_MENTIONS.sub("", text, count=1)
    return stripped if stripped.strip() else text


def _v2_time(value: Any) -> datetime:
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.now(UTC)  # created_at not requested: the receipt time is the best we have


def _v1_time(value: Any) -> datetime:
    if isinstance(value, str) and value:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
    return datetime.now(UTC)


def _ms_time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):  # absent, garbled or out of range
        return datetime.now(UTC)


@dataclass(frozen=True)
class Page:
    """One page of a timeline: what to ingest, what was skipped, and every id seen."""

    messages: list[InboundMessage] = field(default_factory=list)
    skipped: int = 0
    ids: list[str] = field(default_factory=list)
    next_token: str | None = None
    conversations: dict[str, str] = field(default_factory=dict)  # tweet id -> conversation id
    rejected: list[Rejected] = field(default_factory=list)  # unusable items, to dead-letter


@dataclass(frozen=True)
class Rejected:
    """An item that could not be read, and why (it is dead-lettered; the others go on)."""

    item: Any
    reason: str


def _reject(item: Any, what: str, exc: Exception) -> Rejected:
    log.warning("x: skipped unreadable %s: %s", what, type(exc).__name__)
    return Rejected(item, f"{what}: {type(exc).__name__}: {str(exc)[:200]}")


def _items(payload: Mapping[str, Any], key: str, rejected: list[Rejected]) -> list[Any]:
    """The list under `key`; anything else there (a number, an object) is rejected whole."""
    value = payload.get(key)
    if value is None or isinstance(value, list):
        return value or []
    rejected.append(_reject(value, key, TypeError(f"expected a list, got {type(value).__name__}")))
    return []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _users(payload: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    users = _mapping(payload.get("includes")).get("users")
    return {str(u["id"]): u for u in (users if isinstance(users, list) else []) if isinstance(u, Mapping) and "id" in u}


def _author(user_id: str, user: Mapping[str, Any] | None) -> Author:
    user = _mapping(user)
    return Author(
        user_id=user_id,
        handle=str(user.get("username") or user.get("screen_name") or "")[:256],
        display_name=str(user.get("name") or "")[:256],
    )


def _media_keys(
    obj: Mapping[str, Any],
    media: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Attachment, ...]:
    """The media an item names, with their type and URL where the page's `includes.media` has them."""
    keys = _mapping(obj.get("attachments")).get("media_keys") or []
    found = ((str(k), _mapping((media or {}).get(str(k)))) for k in keys)
    return tuple(
        Attachment(
            kind=str(m.get("type") or "media")[:32], platform_file_id=k, url=file_url(m, "url", m.get("variants"))
        )
        for k, m in found
    )


def file_url(media: Mapping[str, Any], url_key: str, variants: object) -> str | None:
    """Pure: where a media object's file is. A photo's is at `url_key` (v2 `url`, v1.1
    `media_url_https`); a video or GIF has none there (v1.1's is a still), its file is the MP4
    variant with the highest bit rate (v2 `bit_rate`, v1.1 `bitrate`; the HLS playlist beside it
    is skipped)."""
    if media.get("type") not in ("video", "animated_gif"):
        url = media.get(url_key)
        return str(url) if url else None
    mp4 = [
        v
        for v in (variants if isinstance(variants, list) else [])
        if isinstance(v, Mapping) and v.get("content_type") == "video/mp4" and v.get("url")
    ]

    def rate(v: Mapping[str, Any]) -> int:
        value = v.get("bit_rate", v.get("bitrate"))
        return value if isinstance(value, int) else 0

    return str(max(mp4, key=rate)["url"]) if mp4 else None


def _included_media(payload: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    media = _mapping(payload.get("includes")).get("media")
    return {
        str(m["media_key"]): m
        for m in (media if isinstance(media, list) else [])
        if isinstance(m, Mapping) and "media_key" in m
    }


def _media_links(obj: Mapping[str, Any], files: Collection[Attachment]) -> list[str]:
    """The t.co links X appends to a text for its media (v2 `entities.urls` with a media_key)."""
    keys = {a.platform_file_id for a in files}
    return [
        str(u.get("url"))
        for u in _mapping(obj.get("entities")).get("urls") or []
        if isinstance(u, Mapping) and u.get("media_key") in keys and u.get("url")
    ]


def without_links(text: str, links: Collection[str]) -> str:
    """Pure: the DM's text without the t.co links X appends for its media (the file is shown)."""
    for link in links:
        text = text.replace(link, "")
    return text.strip()


def _next_token(payload: Mapping[str, Any]) -> str | None:
    token = _mapping(payload.get("meta")).get("next_token")
    return token if isinstance(token, str) else None


def mentions_page(payload: Mapping[str, Any], *, account: str, own_id: str, ignore: Collection[str] = ()) -> Page:
    """A GET /2/users/:id/mentions page. Our own tweets, retweets and ignored users are skipped;
    an item that cannot be read is rejected alone.

    A mention replying to one of our tweets is a REPLY (a thread we are in), else a MENTION."""
    users = _users(payload)
    media = _included_media(payload)
    page = Page(next_token=_next_token(payload))
    skipped = 0
    for tweet in reversed(_items(payload, "data", page.rejected)):  # X lists newest first; ingest in order
        try:
            if "id" not in tweet:
                raise KeyError("id")
            tweet_id = str(tweet["id"])
            conversation = str(tweet.get("conversation_id") or tweet_id)
            author_id = str(tweet.get("author_id") or "")
            refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}
            if not author_id or author_id == own_id or author_id in ignore or "retweeted" in refs:
                skipped += 1
                page.ids.append(tweet_id)
                page.conversations[tweet_id] = conversation
                continue
            replying_to_us = str(tweet.get("in_reply_to_user_id") or "") == own_id
            files = _media_keys(tweet, media)
            message = InboundMessage(
                platform=PLATFORM,
                account=account,
                kind=MessageKind.REPLY if replying_to_us else MessageKind.MENTION,
                message_id=tweet_id,
                thread_key=tweet_thread(conversation),
                author=_author(author_id, users.get(author_id)),
                text=strip_reply_mentions(without_links(str(tweet.get("text", "")), _media_links(tweet, files))),
                attachments=files,
                in_reply_to=refs.get("replied_to"),
                platform_time=_v2_time(tweet.get("created_at")),
            )
        except Exception as exc:  # pure parsing: this one item is unusable, it must not stall the account
            skipped += 1
            page.rejected.append(_reject(tweet, "mention", exc))
            if isinstance(tweet, Mapping) and isinstance(tweet.get("id"), str | int):
                page.ids.append(str(tweet["id"]))  # seen: the cursor moves past it
            continue
        page.ids.append(tweet_id)
        page.conversations[tweet_id] = conversation
        page.messages.append(message)
    return Page(page.messages, skipped, page.ids, page.next_token, page.conversations, page.rejected)


def dm_page(
    payload: Mapping[str, Any], *, account: str, own_id: str, after: str | None, ignore: Collection[str] = ()
) -> Page:
    """A GET /2/dm_events page. Only events newer than `after` count; our own DMs are skipped;
    an event that cannot be read is rejected alone."""
    users = _users(payload)
    media = _included_media(payload)
    messages: list[InboundMessage] = []
    ids: list[str] = []
    rejected: list[Rejected] = []
    skipped = 0
    for event in reversed(_items(payload, "data", rejected)):
        try:
            if "id" not in event:
                raise KeyError("id")
            event_id = str(event["id"])
            id_key(event_id)
        except Exception as exc:  # without a usable id it cannot even be ordered
            skipped += 1
            rejected.append(_reject(event, "DM event", exc))
            continue
        ids.append(event_id)
        if after is not None and id_key(event_id) <= id_key(after):
            continue  # already ingested by an earlier sweep
        try:
            sender = str(event.get("sender_id") or "")
            if (
                event.get("event_type", "MessageCreate") != "MessageCreate"
                or not sender
                or sender == own_id
                or sender in ignore
            ):
                skipped += 1
                continue
            conversation = str(event.get("dm_conversation_id") or dm_conversation_id(sender, own_id))
            files = _media_keys(event, media)
            links = _media_links(event, files)
            messages.append(
                InboundMessage(
                    platform=PLATFORM,
                    account=account,
                    kind=MessageKind.DIRECT,
                    message_id=event_id,
                    thread_key=dm_thread(conversation),
                    author=_author(sender, users.get(sender)),
                    text=without_links(str(event.get("text", "")), links),
                    attachments=files,
                    platform_time=_v2_time(event.get("created_at")),
                )
            )
        except Exception as exc:  # pure parsing: this one item is unusable, it must not stall the account
            skipped += 1
            rejected.append(_reject(event, "DM event", exc))
    return Page(messages, skipped, ids, _next_token(payload), rejected=rejected)


# --- Account Activity API (v1.1 objects) --------------------------------------------------------
@dataclass(frozen=True)
class WebhookTweet:
    """A tweet from tweet_create_events, waiting for its conversation id to be resolved."""

    raw: Mapping[str, Any]
    tweet_id: str
    reply_to: str | None  # in_reply_to_status_id_str: its conversation is this tweet's

    def message(self, *, account: str, own_id: str, conversation_id: str) -> InboundMessage:
        tweet = self.raw
        user = tweet.get("user") or {}
        extended = tweet.get("extended_tweet") or {}
        text = str(extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or "")
        media = (
            extended.get("extended_entities") or tweet.get("extended_entities") or tweet.get("entities") or {}
        ).get("media") or []
        replying_to_us = str(tweet.get("in_reply_to_user_id_str") or "") == own_id
        return InboundMessage(
            platform=PLATFORM,
            account=account,
            kind=MessageKind.REPLY if replying_to_us else MessageKind.MENTION,
            message_id=self.tweet_id,
            thread_key=tweet_thread(conversation_id),
            author=_author(str(user.get("id_str") or user.get("id")), user),
            text=strip_reply_mentions(without_links(text, [str(m["url"]) for m in media if m.get("url")])),
            attachments=tuple(_v1_media(m) for m in media),
            in_reply_to=self.reply_to,
            platform_time=_v1_time(tweet.get("created_at")),
        )


def _v1_media(media: Mapping[str, Any]) -> Attachment:
    return Attachment(
        kind=str(media.get("type") or "photo")[:32],
        platform_file_id=str(media.get("id_str") or media.get("id")),
        url=file_url(media, "media_url_https", _mapping(media.get("video_info")).get("variants")),
    )


def webhook_tweets(
    payload: Mapping[str, Any], *, own_id: str, ignore: Collection[str] = ()
) -> tuple[list[WebhookTweet], int, list[Rejected]]:
    """tweet_create_events addressed to us, minus our own tweets, retweets and ignored users;
    then how many were skipped, and the ones that could not be read."""
    found: list[WebhookTweet] = []
    rejected: list[Rejected] = []
    skipped = 0
    for tweet in _items(payload, "tweet_create_events", rejected):
        try:
            user = _mapping(tweet.get("user"))
            author = str(user.get("id_str") or user.get("id") or "")
            if not author or author == own_id or author in ignore or "retweeted_status" in tweet:
                skipped += 1
                continue
            reply_to = tweet.get("in_reply_to_status_id_str")
            candidate = WebhookTweet(tweet, str(tweet["id_str"]), str(reply_to) if reply_to else None)
            candidate.message(account="-", own_id=own_id, conversation_id=candidate.tweet_id)  # readable?
        except Exception as exc:  # pure parsing: this one event is unusable
            rejected.append(_reject(tweet, "tweet_create_event", exc))
            continue
        found.append(candidate)
    return found, skipped, rejected


def webhook_dms(
    payload: Mapping[str, Any], *, account: str, own_id: str, ignore: Collection[str] = ()
) -> tuple[list[InboundMessage], int, list[Rejected]]:
    """direct_message_events received by us (the ones we sent are skipped); then how many were
    skipped, and the ones that could not be read."""
    users = _mapping(payload.get("users"))
    messages: list[InboundMessage] = []
    rejected: list[Rejected] = []
    skipped = 0
    for event in _items(payload, "direct_message_events", rejected):
        try:
            create = _mapping(event.get("message_create"))
            sender = str(create.get("sender_id") or "")
            recipient = str(_mapping(create.get("target")).get("recipient_id") or "")
            if event.get("type") != "message_create" or not sender or sender == own_id or sender in ignore:
                skipped += 1
                continue
            data = _mapping(create.get("message_data"))
            attachment = _mapping(data.get("attachment"))
            media = _mapping(attachment.get("media")) if attachment.get("type") == "media" else None
            link = str(media.get("url") or "") if media else ""
            messages.append(
                InboundMessage(
                    platform=PLATFORM,
                    account=account,
                    kind=MessageKind.DIRECT,
                    message_id=str(event["id"]),
                    thread_key=dm_thread(dm_conversation_id(sender, recipient or own_id)),
                    author=_author(sender, users.get(sender)),
                    text=without_links(str(data.get("text", "")), [link] if link else []),
                    attachments=(_v1_media(media),) if media else (),
                    platform_time=_ms_time(event.get("created_timestamp")),
                )
            )
        except Exception as exc:  # pure parsing: this one event is unusable
            rejected.append(_reject(event, "direct_message_event", exc))
    return messages, skipped, rejected
