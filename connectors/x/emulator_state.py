"""State of the X API emulator: users, tweets, DM events, what the brand sent, rate-limit windows
and OAuth 1.0a verification. Plain data and pure checks; the routes live in `emulator.py`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oauthlib.oauth1.rfc5849 import signature as oauth_signature  # type: ignore[import-untyped]
from oauthlib.oauth1.rfc5849.utils import (  # type: ignore[import-untyped]
    escape,
    parse_authorization_header,
    unescape,
)

from helpline.connectors.emulator_ids import ClockIds, x_ids

from .parse import dm_conversation_id, id_key

#: Endpoint -> (requests, window seconds). Per user, as X documents them (15-minute windows).
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "users_me": (75, 900.0),
    "mentions": (300, 900.0),
    "tweet_lookup": (900, 900.0),
    "dm_events": (300, 900.0),
    "tweets_create": (100, 900.0),
    "dm_create": (200, 900.0),
}


@dataclass
class User:
    id: str
    username: str
    name: str

    def json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "username": self.username}


@dataclass
class Tweet:
    id: str
    text: str
    author_id: str
    conversation_id: str
    created_at: datetime
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user_id: str | None = None
    media: Media | None = None

    def media_path(self) -> str | None:
        """Where the attached file is served: a photo as on pbs.twimg.com, a video or GIF (its MP4)
        as on video.twimg.com."""
        if self.media is None:
            return None
        m = self.media
        if m.type == "video":
            return f"/ext_tw_video/{m.id}/pu/vid/{m.file_name}"
        return f"/tweet_video/{m.file_name}" if m.type == "animated_gif" else f"/media/{m.file_name}"


_MEDIA_KEY_PREFIX = {"photo": 3, "animated_gif": 16, "video": 7}  # as X numbers its media keys


@dataclass(frozen=True)
class Media:
    """A file a customer attached: a DM's served only to signed requests (as ton.twitter.com), a
    tweet's photo to anyone (as pbs.twimg.com)."""

    id: str
    type: str  # photo, animated_gif, video
    content_type: str
    data: bytes
    short_url: str  # the t.co link X appends to the DM's text

    @property
    def media_key(self) -> str:
        return f"{_MEDIA_KEY_PREFIX.get(self.type, 3)}_{self.id}"

    @property
    def playable(self) -> bool:
        """A video or GIF: X lists it as MP4 variants (v2 `variants`, v1.1 `video_info`), not as a
        `url`; its `media_url` is a still preview."""
        return self.type in ("video", "animated_gif")

    def variants(self, url: str, bitrate_key: str) -> list[dict[str, Any]]:
        """X's variants of the file served at `url`: the MP4 (a GIF's has bit rate 0) and, for a
        video, the HLS playlist X lists beside it (which has no bit rate)."""
        mp4 = {bitrate_key: 0 if self.type == "animated_gif" else 832000, "content_type": "video/mp4", "url": url}
        if self.type == "animated_gif":
            return [mp4]
        return [{"content_type": "application/x-mpegURL", "url": url.rsplit(".", 1)[0] + ".m3u8"}, mp4]

    def preview_url(self, base: str) -> str:
        """A video's still, as X names it (not served here)."""
        return f"{base}/ext_tw_video_thumb/{self.id}/pu/img/{self.id}.jpg"

    @property
    def file_name(self) -> str:
        extension = {"image/png": "png", "image/gif": "gif", "video/mp4": "mp4"}.get(self.content_type, "jpg")
        return f"{self.id}.{extension}"


@dataclass
class DmEvent:
    id: str
    text: str
    sender_id: str
    dm_conversation_id: str
    participant_ids: list[str]
    created_at: datetime
    media: Media | None = None

    def media_path(self) -> str | None:
        """Where the attached file is served: a photo as on ton.twitter.com, a video or GIF (its MP4)
        as on video.twimg.com; both only to signed requests of a participant."""
        if self.media is None:
            return None
        m = self.media
        folder = {"video": "/dm_video", "animated_gif": "/dm_gif"}.get(m.type, "/1.1/ton/data/dm")
        return f"{folder}/{self.id}/{m.id}/{m.file_name}"


@dataclass
class Window:
    limit: int
    seconds: float
    start: float = 0.0
    used: int = 0

    def hit(self, now: float) -> tuple[bool, dict[str, str]]:
        """Spend one request of the fixed window; returns (allowed, x-rate-limit-* headers)."""
        if now >= self.start + self.seconds:
            self.start, self.used = now, 0
        allowed = self.used < self.limit
        if allowed:
            self.used += 1
        headers = {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(max(self.limit - self.used, 0)),
            "x-rate-limit-reset": str(math.ceil(self.start + self.seconds)),
        }
        return allowed, headers


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Credentials:
    """The emulator's own made-up credentials (not secrets: every test and the demo use them)."""

    consumer_key: str = "emulator-consumer-key"
    consumer_secret: str = "emulator-consumer-secret"  # noqa: S105
    access_token: str = "1000-emulator-access-token"  # noqa: S105
    access_token_secret: str = "emulator-access-token-secret"  # noqa: S105
    bearer_token: str = "emulator-bearer-token"  # noqa: S105


@dataclass
class EmulatorState:
    brand: User
    credentials: Credentials = field(default_factory=Credentials)
    users: dict[str, User] = field(default_factory=dict)
    tweets: dict[str, Tweet] = field(default_factory=dict)
    dms: list[DmEvent] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    windows: dict[str, Window] = field(default_factory=dict)
    omit_reset_header: bool = False
    failures: dict[str, list[int]] = field(default_factory=dict)  # endpoint -> statuses to answer next
    webhook_url: str | None = None
    webhook_secret: str | None = None
    stats: dict[str, Any] = field(
        default_factory=lambda: {
            "requests": {},
            "rate_limited_responses": 0,
            "auth_failures": 0,
            "webhook_deliveries": 0,
            "media_downloads": 0,
            "public_media_with_credentials": 0,
        }
    )
    _ids: ClockIds = field(default_factory=x_ids)  # a restarted emulator continues above its old ids

    def __post_init__(self) -> None:
        self.users[self.brand.id] = self.brand
        for name, (limit, seconds) in DEFAULT_LIMITS.items():
            self.windows[name] = Window(limit, seconds)

    def next_id(self) -> str:
        return str(self._ids.next())

    def user(self, user_id: str, handle: str = "", name: str = "") -> User:
        known = self.users.get(user_id)
        if known is None or handle or name:
            known = User(
                user_id,
                handle or (known.username if known else f"user{user_id}"),
                name or (known.name if known else handle or f"User {user_id}"),
            )
            self.users[user_id] = known
        return known

    # --- content ----------------------------------------------------------------------------
    def _media(self, media: tuple[bytes, str]) -> Media:
        media_id = self.next_id()
        kind = "video" if media[1].startswith("video/") else "animated_gif" if media[1] == "image/gif" else "photo"
        return Media(media_id, kind, media[1], media[0], f"https://t.co/m{int(media_id) % 10**8:08d}")

    def add_tweet(self, author: User, text: str, reply_to: str | None, media: tuple[bytes, str] | None = None) -> Tweet:
        """A tweet; with `media` (bytes, content type) X appends the file's t.co link to the text."""
        attached = None if media is None else self._media(media)
        if attached is not None:
            text = f"{text} {attached.short_url}".strip()
        tweet_id = self.next_id()
        parent = self.tweets.get(reply_to) if reply_to else None
        tweet = Tweet(
            id=tweet_id,
            text=text,
            author_id=author.id,
            conversation_id=parent.conversation_id if parent else tweet_id,
            created_at=datetime.now(UTC),
            in_reply_to_tweet_id=parent.id if parent else None,
            in_reply_to_user_id=parent.author_id if parent else None,
            media=attached,
        )
        self.tweets[tweet_id] = tweet
        return tweet

    def add_dm(self, sender: User, recipient_id: str, text: str, media: tuple[bytes, str] | None = None) -> DmEvent:
        """A DM; with `media` (bytes, content type) X appends the file's t.co link to the text."""
        attached = None
        if media is not None:
            attached = self._media(media)
            text = f"{text} {attached.short_url}".strip()
        event = DmEvent(
            id=self.next_id(),
            text=text,
            sender_id=sender.id,
            dm_conversation_id=dm_conversation_id(sender.id, recipient_id),
            participant_ids=sorted({sender.id, recipient_id}, key=id_key),
            created_at=datetime.now(UTC),
            media=attached,
        )
        self.dms.append(event)
        return event

    def mentions_of_brand(self) -> list[Tweet]:
        """Tweets mentioning the brand or replying to it, newest first (the brand's own included)."""
        handle = "@" + self.brand.username.lower()
        found = [t for t in self.tweets.values() if t.in_reply_to_user_id == self.brand.id or handle in t.text.lower()]
        return sorted(found, key=lambda t: id_key(t.id), reverse=True)

    # --- limits -----------------------------------------------------------------------------
    def configure(self, config: dict[str, Any]) -> None:
        for name, spec in (config.get("limits") or {}).items():
            self.windows[name] = Window(int(spec["limit"]), float(spec.get("window", 900.0)))
        if "omit_reset_header" in config:
            self.omit_reset_header = bool(config["omit_reset_header"])
        for name, statuses in (config.get("fail_next") or {}).items():
            self.failures[name] = [int(s) for s in statuses]

    def hit(self, endpoint: str) -> tuple[bool, dict[str, str]]:
        requests = self.stats["requests"]
        requests[endpoint] = requests.get(endpoint, 0) + 1
        allowed, headers = self.windows[endpoint].hit(time.time())
        if not allowed:
            self.stats["rate_limited_responses"] += 1
        if self.omit_reset_header:
            headers.pop("x-rate-limit-reset")
        return allowed, headers

    # --- auth -------------------------------------------------------------------------------
    def check_auth(self, method: str, url: str, authorization: str | None, *, bearer_ok: bool) -> str | None:
        """None when the request is authorised, else the problem type to answer 401/403 with."""
        creds = self.credentials
        if not authorization:
            return "unauthorized"
        if authorization.startswith("Bearer "):
            if not hmac.compare_digest(authorization[7:].encode(), creds.bearer_token.encode()):
                return "unauthorized"
            return None if bearer_ok else "unsupported-authentication"
        if not authorization.startswith("OAuth "):
            return "unauthorized"
        params = {k: unescape(v) for k, v in parse_authorization_header(authorization)}
        if (
            params.get("oauth_consumer_key") != creds.consumer_key
            or params.get("oauth_token") != creds.access_token
            or params.get("oauth_signature_method") != "HMAC-SHA1"
        ):
            return "unauthorized"
        query = url.split("?", 1)[1] if "?" in url else ""
        collected = oauth_signature.collect_parameters(uri_query=query, headers={"Authorization": authorization})
        base = oauth_signature.signature_base_string(
            method.upper(), oauth_signature.base_string_uri(url), oauth_signature.normalize_parameters(collected)
        )
        key = f"{escape(creds.consumer_secret)}&{escape(creds.access_token_secret)}".encode()
        expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest())
        if not hmac.compare_digest(expected, str(params.get("oauth_signature", "")).encode()):
            return "unauthorized"
        return None
