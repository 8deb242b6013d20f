"""Announcement models: what marketing composes, where it goes, and what happened to each post.

    draft ──submit──► awaiting_approval ──approve──► scheduled ──due──► publishing ──► published
      ▲                      │ reject (comment)          │                             partly_failed
      └──────────────────────┴──────── unschedule ───────┘                             failed

`submit` skips awaiting_approval when no target requires approval (settings). Every model is
frozen and forbids unknown fields, like the routing wire models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from helpline.connectors.publishing import Destination
from helpline.routing.models import AccountName, DeliveryState, LanguageCode, Wire, utcnow

PLATFORMS = ("x", "telegram", "mastodon")


class State(StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PARTLY_FAILED = "partly_failed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (State.PUBLISHED, State.PARTLY_FAILED, State.FAILED)


class TargetKind(StrEnum):
    X_TIMELINE = "x_timeline"
    TELEGRAM_CHAT = "telegram_chat"  # a channel or group, by chat id
    TELEGRAM_SUBSCRIBERS = "telegram_subscribers"  # every opted-in subscriber of a bot
    MASTODON_ACCOUNT = "mastodon_account"

    @property
    def platform(self) -> str:
        return self.value.split("_", 1)[0]


class Target(Wire):
    kind: TargetKind
    account: AccountName
    chat_id: int | None = None  # TELEGRAM_CHAT only

    @model_validator(mode="after")
    def _chat(self) -> Target:
        if self.kind is TargetKind.TELEGRAM_CHAT and (self.chat_id is None or self.chat_id >= 0):
            raise ValueError("a telegram_chat target needs the (negative) chat id of a channel or group")
        if self.kind is not TargetKind.TELEGRAM_CHAT and self.chat_id is not None:
            raise ValueError(f"chat_id applies to telegram_chat targets only, not {self.kind.value}")
        return self

    @property
    def platform(self) -> str:
        return self.kind.platform

    @property
    def destination(self) -> Destination:
        """Where on its platform the post goes (a connector declares the destinations it serves)."""
        if self.kind is TargetKind.TELEGRAM_CHAT:
            return Destination.CHAT
        if self.kind is TargetKind.TELEGRAM_SUBSCRIBERS:
            return Destination.SUBSCRIBER
        return Destination.TIMELINE

    @property
    def key(self) -> str:
        """Stable name of the target, used in approval rules: "x:main", "telegram:bot:chat:-100..."."""
        if self.kind is TargetKind.TELEGRAM_CHAT:
            return f"telegram:{self.account}:chat:{self.chat_id}"
        if self.kind is TargetKind.TELEGRAM_SUBSCRIBERS:
            return f"telegram:{self.account}:subscribers"
        return f"{self.platform}:{self.account}"


class Image(Wire):
    """An image's metadata: where it is (a URL or a file path) and its alt text."""

    url: str | None = Field(default=None, max_length=2048)
    path: str | None = Field(default=None, max_length=1024)
    alt: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_source(self) -> Image:
        if (self.url is None) == (self.path is None):
            raise ValueError("an image has exactly one of url or path")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError("image url must be http(s)")
        return self


class IncidentSpec(Wire):
    """Open an incident when the announcement is published: inbound messages matching a keyword
    (in one of `languages`, or any language when empty) are linked and answered with `link`."""

    keywords: tuple[str, ...] = Field(min_length=1)
    languages: tuple[LanguageCode, ...] = ()
    link: str | None = None  # default: the first published post's URL

    @field_validator("keywords")
    @classmethod
    def _clean(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(k.strip().casefold() for k in value if k.strip())
        if not cleaned:
            raise ValueError("at least one non-blank keyword")
        return cleaned


class Review(Wire):
    decision: str  # "approved" | "rejected"
    by: str
    comment: str = ""
    at: datetime = Field(default_factory=utcnow)


class Announcement(Wire):
    id: str
    title: str = Field(default="", max_length=200)
    text: str = Field(min_length=1, max_length=20_000)
    overrides: dict[str, str] = Field(default_factory=dict)  # platform -> text
    images: tuple[Image, ...] = ()
    targets: tuple[Target, ...] = Field(min_length=1)
    publish_at: datetime | None = None  # None: as soon as it is scheduled ("now")
    timezone: str = "UTC"  # the zone `publish_at` was given in (for display)
    state: State = State.DRAFT
    incident: IncidentSpec | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    review: Review | None = None
    version: int = 0

    @field_validator("overrides")
    @classmethod
    def _known_platforms(cls, value: dict[str, str]) -> dict[str, str]:
        for platform, text in value.items():
            if platform not in PLATFORMS:
                raise ValueError(f"overrides.{platform}: unknown platform (use {', '.join(PLATFORMS)})")
            if not text.strip():
                raise ValueError(f"overrides.{platform}: empty text")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("publish_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("publish_at needs a timezone (or use local_time + timezone)")
        return None if value is None else value.astimezone(UTC)

    def text_for(self, platform: str) -> str:
        return self.overrides.get(platform) or self.text

    def local_publish_at(self) -> datetime | None:
        return None if self.publish_at is None else self.publish_at.astimezone(zone(self.timezone))

    def platforms(self) -> list[str]:
        return sorted({t.platform for t in self.targets})


class DeliveryRecord(Wire):
    """What happened to one (announcement, target[, subscriber]) post."""

    delivery_id: str
    target: str  # Target.key
    recipient: str | None = None  # the subscriber's chat id for a broadcast
    state: DeliveryState
    platform_ids: tuple[str, ...] = ()
    url: str | None = None
    attempts: int = 0
    error: str | None = None
    updated_at: datetime | None = None


def zone(name: str) -> ZoneInfo:
    try:  # "America" is a directory of the zone database, an over-long name an OS error
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {name!r} (use an IANA name like Asia/Seoul)") from None


def parse_publish_at(value: str | None, timezone: str = "UTC") -> datetime | None:
    """ "now"/None → None; an ISO time with an offset is taken as is; a naive one is local time
    in `timezone` (so "2025-03-01T09:00" + "Asia/Seoul" is 09:00 KST)."""
    if value is None or value.strip().lower() in ("", "now"):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f'publish time {value!r} is not an ISO time like 2026-03-01T09:00 (or "now")') from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(timezone))
    return when.astimezone(UTC)


def dump(model: Wire) -> dict[str, Any]:
    return model.model_dump(mode="json")
