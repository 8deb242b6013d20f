"""Mastodon payloads (Notification, Status, Account, MediaAttachment) to wire models. Pure.

The entity models ignore fields they do not use, so a newer Mastodon adding fields still parses;
the fields we rely on are validated. A status whose visibility is missing is treated as
"direct": when in doubt, answer privately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from helpline.routing.models import Attachment, Author, InboundMessage, MessageKind

from .html_text import html_to_text

Visibility = Literal["public", "unlisted", "private", "direct"]


class _Entity(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MAccount(_Entity):
    id: str
    username: str = ""
    acct: str = ""
    display_name: str = ""
    url: str = ""
    bot: bool = False


class MMention(_Entity):
    id: str
    username: str = ""
    acct: str = ""
    url: str = ""


class MMedia(_Entity):
    id: str
    type: str = "unknown"  # image, gifv, video, audio, unknown
    url: str | None = None
    remote_url: str | None = None
    preview_url: str | None = None
    description: str | None = None


class MStatus(_Entity):
    id: str
    created_at: datetime
    account: MAccount
    content: str = ""
    visibility: Visibility = "direct"
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    spoiler_text: str = ""
    language: str | None = None
    edited_at: datetime | None = None
    media_attachments: tuple[MMedia, ...] = ()
    mentions: tuple[MMention, ...] = ()
    reblog: MStatus | None = None


class MNotification(_Entity):
    id: str
    type: str
    created_at: datetime
    account: MAccount
    status: MStatus | None = None


class MContext(_Entity):
    ancestors: tuple[MStatus, ...] = ()
    descendants: tuple[MStatus, ...] = ()


@dataclass(frozen=True)
class OwnAccount:
    """Our account as verify_credentials described it."""

    id: str
    username: str
    acct: str
    url: str


def id_key(value: str) -> tuple[int, str]:
    """Order of Mastodon ids: numeric strings (snowflakes) compare by length, then digits."""
    return (len(value), value) if value.isdigit() else (1 << 30, value)


def newest(ids: list[str]) -> str | None:
    return max(ids, key=id_key) if ids else None


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def link_params(header: str | None, rel: str) -> dict[str, str]:
    """Query parameters of the `Link` header's URL with `rel` ("next" or "prev")."""
    if not header:
        return {}
    for match in _LINK.finditer(header):
        rels = re.findall(r'rel="?([^";]+)"?', match.group(2))
        if any(rel in r.split() for r in rels):
            query = parse_qs(urlsplit(match.group(1)).query)
            return {k: v[-1] for k, v in query.items() if v}
    return {}


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


def status_text(status: MStatus, own: OwnAccount) -> str:
    handles = {own.username, own.acct}
    text = html_to_text(status.content, own_hrefs={own.url} - {""}, own_handles=handles - {""})
    if status.spoiler_text:  # the content warning is part of what the customer said
        text = f"{status.spoiler_text}\n\n{text}" if text else status.spoiler_text
    return text


def attachment(media: MMedia) -> Attachment:
    kind = {"image": "photo", "gifv": "animation"}.get(media.type, media.type)[:32]
    # Mastodon gives no MIME type or size; the URL (or the remote one, for federated media) is
    # where an agent opens it.
    return Attachment(kind=kind, platform_file_id=media.id[:512], url=media.url or media.remote_url)


def skip_reason(note: MNotification, own: OwnAccount) -> str | None:
    """Why a notification is not a customer message, or None when it is one."""
    if note.type != "mention" or note.status is None:
        return "not a mention"
    status = note.status
    if status.reblog is not None:
        return "a boost"
    if status.account.id == own.id or note.account.id == own.id:
        return "our own status"
    if status.account.bot or note.account.bot:
        return "a bot account"
    return None


def kind_of(status: MStatus) -> MessageKind:
    if status.visibility == "direct":
        return MessageKind.DIRECT
    return MessageKind.REPLY if status.in_reply_to_id else MessageKind.MENTION


def direct_thread_key(account_id: str) -> str:
    """One private conversation per customer account: a new DM that replies to nothing still
    lands in the customer's open conversation."""
    return f"direct:{account_id}"


def public_thread_key(root_status_id: str) -> str:
    return f"status:{root_status_id}"


def inbound(status: MStatus, own: OwnAccount, platform: str, account: str, thread_key: str) -> InboundMessage:
    author = status.account
    language = status.language if status.language and _LANGUAGE.match(status.language) else None
    return InboundMessage(
        platform=platform,
        account=account,
        kind=kind_of(status),
        message_id=status.id,
        thread_key=thread_key,
        author=Author(
            user_id=author.id, handle=author.acct[:256], display_name=author.display_name[:256], is_bot=author.bot
        ),
        text=status_text(status, own)[:65536],
        language=language,
        attachments=tuple(attachment(m) for m in status.media_attachments),
        in_reply_to=status.in_reply_to_id,
        edited=status.edited_at is not None,
        platform_time=status.created_at,
    )


class StatusInfo(BaseModel):
    """What we remember of a status: its thread, visibility and author (for replies)."""

    model_config = ConfigDict(frozen=True)

    thread_key: str
    visibility: Visibility
    account_id: str
    acct: str = Field(default="")
